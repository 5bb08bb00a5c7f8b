//! A throwaway `redis-server` for the tests that are about Redis: it must be
//! installed (the test command installs it); a missing one fails the test.
#![allow(dead_code)] // each test binary uses part of it

use std::time::Duration;

/// A throwaway `redis-server` on a free loopback port, killed on drop.
pub struct Redis {
    child: std::process::Child,
    pub url: String,
}

impl Redis {
    #[allow(clippy::zombie_processes)] // Drop kills and waits for it.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (the test command installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Redis {
                    child,
                    url: format!("redis://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
