//! The browser's side of sign-in: the login form, and calls with its cookie.
#![allow(dead_code)] // each test module uses part of it

use serde_json::Value;

use super::{TestApp, app::PASSWORD};

/// Browser sign-in, as the login form does it.
pub trait Browser {
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        origin: Option<&str>,
    ) -> (u16, Option<String>, String);
    async fn right_password(&self, user: &str) -> (u16, u64);
    /// Signs in with the form from `address` (as a trusted proxy names it):
    /// (status, `Retry-After` or 0).
    async fn sign_in_from(&self, address: &str, username: &str, password: &str) -> (u16, u64);
    async fn with_cookie(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value);
}

impl Browser for TestApp {
    /// Signs in through the login form; (status, Set-Cookie, page text).
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        origin: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let mut request = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("username", username), ("password", password)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.expect("login");
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().expect("ascii").to_owned());
        (status, cookie, response.text().await.expect("page"))
    }

    /// Signs `user` in with the right password: the status and `Retry-After` (0 if none).
    async fn right_password(&self, user: &str) -> (u16, u64) {
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("username", user), ("password", PASSWORD)])
            .send()
            .await
            .expect("login");
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        (response.status().as_u16(), wait)
    }

    async fn sign_in_from(&self, address: &str, username: &str, password: &str) -> (u16, u64) {
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .header("x-forwarded-for", address)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("login");
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        (response.status().as_u16(), wait)
    }

    async fn with_cookie(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
