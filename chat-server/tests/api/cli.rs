//! The binary's commands: `user add|list`, `key create|list|revoke`, and
//! `serve` refusing to start in production without an admin.

use chat_server::{
    auth::keys,
    store::{sql::SqlStore, users::UserStore},
};
use serde_json::{Value, json};

use crate::support::sqlite_url;

/// Runs the built binary with `args`, `stdin` and a chat database; (status, stdout, stderr).
fn binary(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the chat-server binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_creates_the_first_admin_and_keys_and_production_needs_them() {
    let db = sqlite_url("cli");
    let env = [("DATABASE_URL", db.as_str()), ("LOG_LEVEL", "warn")];

    let (ok, _, stderr) = binary(
        &["serve", "--port", "0"],
        "",
        &[("DATABASE_URL", db.as_str()), ("ENVIRONMENT", "production")],
    );
    assert!(!ok);
    assert!(
        stderr.contains("no admin exists") && stderr.contains("chat-server user add"),
        "{stderr}"
    );

    let (ok, _, stderr) = binary(&["user", "add", "root", "--role", "admin"], "short\n", &env);
    assert!(!ok && stderr.contains("at least 12"), "{stderr}");
    let (ok, out, stderr) = binary(
        &["user", "add", "root", "--role", "admin"],
        "a long enough password\n",
        &env,
    );
    assert!(ok, "{stderr}");
    assert!(out.contains("created admin root"), "{out}");
    let (ok, _, stderr) = binary(&["user", "add", "root"], "another long password\n", &env);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");

    let (ok, key, stderr) = binary(
        &[
            "key",
            "create",
            "root",
            "--scopes",
            "chat,admin",
            "--expires-in-days",
            "30",
        ],
        "",
        &env,
    );
    assert!(ok, "{stderr}");
    let key = key.trim().to_owned();
    assert!(keys::looks_like_key(&key), "{key}");
    assert!(stderr.contains("not shown again"));
    let (ok, listed, _) = binary(&["key", "list"], "", &env);
    assert!(ok);
    assert!(
        !listed.contains(&key),
        "the key itself is never shown again"
    );
    let record: Value = serde_json::from_str(listed.lines().next().expect("a key")).expect("json");
    assert_eq!(record["scopes"], json!(["chat", "admin"]));
    assert!(record["expires_at"].is_i64());
    assert!(key.starts_with(record["prefix"].as_str().expect("prefix")));
    let id = record["id"].as_str().expect("id");
    assert!(binary(&["key", "revoke", id], "", &env).0);
    assert!(
        !binary(&["key", "revoke", id], "", &env).0,
        "revoking twice is an error"
    );
    let stored = SqlStore::connect(&db, 1).await.expect("db");
    let user = stored
        .user_by_name("root")
        .await
        .expect("read")
        .expect("root");
    assert!(
        user.password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );

    // An operator disables, enables and resets a user from the command line.
    assert!(binary(&["user", "disable", "root"], "", &env).0);
    let (_, listed, _) = binary(&["user", "list"], "", &env);
    assert!(listed.contains("\tdisabled"), "{listed}");
    assert!(
        stored
            .user_by_name("root")
            .await
            .expect("read")
            .is_some_and(|u| u.disabled_at.is_some())
    );
    assert!(binary(&["user", "enable", "root"], "", &env).0);
    let (ok, _, stderr) = binary(&["user", "reset-password", "root"], "short\n", &env);
    assert!(!ok && stderr.contains("at least 12"), "{stderr}");
    let (ok, out, stderr) = binary(
        &["user", "reset-password", "root"],
        "a brand new password\n",
        &env,
    );
    assert!(ok && out.contains("new password"), "{stderr}");
    let hash = stored
        .user_by_name("root")
        .await
        .expect("read")
        .and_then(|u| u.password_hash)
        .expect("a hash");
    assert!(chat_server::auth::password::verify(
        "a brand new password",
        &hash
    ));
    assert!(
        !binary(&["user", "disable", "nobody"], "", &env).0,
        "an unknown user is an error"
    );
}
