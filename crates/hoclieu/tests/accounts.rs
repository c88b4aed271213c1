//! Accounts, roles and the curation workflow through the running service: every protected
//! endpoint against every kind of caller, the workflow end to end, sessions and CSRF, and
//! that nothing unpublished leaks through search, facets or suggest.

mod support;

use serde_json::{Value, json};
use support::*;

const PASSWORD: &str = "mật khẩu thử nghiệm";

/// A signed-in browser: its session cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn sign_in(server: &Server, login: &str, password: &str) -> Result<Browser, (u16, Value)> {
    let body = json!({"login": login, "password": password}).to_string();
    let r = server.post("/api/v1/auth/login", &[("Content-Type", "application/json")], body.as_bytes());
    let set_cookie = header(&r, "set-cookie");
    let (status, value) = json_of(r);
    if status != 200 {
        return Err((status, value));
    }
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Ok(Browser { cookie, csrf: value["csrf_token"].as_str().unwrap().to_owned() })
}

/// A caller of the table: how it authenticates.
enum Who<'a> {
    Anonymous,
    Key(&'a str),
    Browser(&'a Browser),
}

fn call(server: &Server, who: &Who, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    let auth;
    let mut headers = vec![("Content-Type", "application/json")];
    match who {
        Who::Anonymous => {}
        Who::Key(token) => {
            auth = format!("Bearer {token}");
            headers.push(("Authorization", auth.as_str()));
        }
        Who::Browser(b) => {
            headers.push(("Cookie", b.cookie.as_str()));
            headers.push(("X-CSRF-Token", b.csrf.as_str()));
        }
    }
    json_of(server.call(method, path, &headers, &body))
}

fn upload_as(server: &Server, b: &Browser, title: &str, subject: &str) -> Value {
    let meta =
        json!({"title": title, "subject": subject, "grade": 10, "resource_type": "bai-giang", "province": "ha-noi"})
            .to_string();
    let (ct, body) = multipart(Some(&meta), &[("bai.txt", "Nội dung bài giảng thử".as_bytes())]);
    let r = server.post(
        "/api/v1/materials",
        &[("Content-Type", &ct), ("Cookie", &b.cookie), ("X-CSRF-Token", &b.csrf)],
        &body,
    );
    let (status, m) = json_of(r);
    assert_eq!(status, 201, "{m}");
    m
}

#[test]
fn every_endpoint_against_every_caller() {
    let data = Data::new();
    data.user("admin", "admin", PASSWORD, &[]);
    data.user("thamdinh.toan", "reviewer", PASSWORD, &[]);
    data.user("thamdinh.ly", "reviewer", PASSWORD, &[]);
    data.user("giaovien.a", "curator", PASSWORD, &["--province", "ha-noi"]);
    data.user("giaovien.b", "curator", PASSWORD, &[]);
    data.user("hocsinh", "teacher", PASSWORD, &[]);
    assert!(
        data.run(&["user", "set-role", "thamdinh.toan", "--role", "reviewer", "--subject", "toan"]).status.success()
    );
    assert!(
        data.run(&["user", "set-role", "thamdinh.ly", "--role", "reviewer", "--subject", "vat-li"]).status.success()
    );
    let read_key = data.api_key("read");
    let write_key = data.api_key("write");
    let review_key = data.api_key("review");
    let admin_key = data.api_key("admin");
    let server = data.serve(&[]);
    let admin = sign_in(&server, "admin", PASSWORD).unwrap();
    let math = sign_in(&server, "thamdinh.toan", PASSWORD).unwrap();
    let physics = sign_in(&server, "thamdinh.ly", PASSWORD).unwrap();
    let author = sign_in(&server, "giaovien.a", PASSWORD).unwrap();
    let other = sign_in(&server, "giaovien.b", PASSWORD).unwrap();
    let teacher = sign_in(&server, "hocsinh", PASSWORD).unwrap();
    // An ended session: signed in, then out.
    let ended = sign_in(&server, "hocsinh", PASSWORD).unwrap();
    assert_eq!(call(&server, &Who::Browser(&ended), "POST", "/api/v1/auth/logout", &Value::Null).0, 204);

    // A curator's upload starts as a draft, invisible to the public.
    let draft = upload_as(&server, &author, "Bản nháp lượng giác độc nhất", "toan");
    assert_eq!(draft["status"], "draft");
    let id = draft["id"].as_str().unwrap().to_owned();
    let material = format!("/api/v1/materials/{id}");

    let callers: Vec<(&str, Who)> = vec![
        ("anonymous", Who::Anonymous),
        ("ended session", Who::Browser(&ended)),
        ("revoked-looking key", Who::Key("hl_0000")),
        ("read key", Who::Key(&read_key)),
        ("write key", Who::Key(&write_key)),
        ("review key", Who::Key(&review_key)),
        ("admin key", Who::Key(&admin_key)),
        ("teacher", Who::Browser(&teacher)),
        ("author", Who::Browser(&author)),
        ("other curator", Who::Browser(&other)),
        ("math reviewer", Who::Browser(&math)),
        ("physics reviewer", Who::Browser(&physics)),
        ("admin", Who::Browser(&admin)),
    ];
    // (method, path, body, callers allowed). Everyone else gets 401, 403 or 404 — never data.
    let table: Vec<(&str, String, Value, &[&str])> = vec![
        ("GET", material.clone(), Value::Null, &["author", "math reviewer", "admin", "review key", "admin key"]),
        (
            "GET",
            "/api/v1/review/queue?status=draft".into(),
            Value::Null,
            &["math reviewer", "physics reviewer", "admin", "review key", "admin key"],
        ),
        ("GET", "/api/v1/users".into(), Value::Null, &["admin", "admin key"]),
        ("GET", "/api/v1/keys".into(), Value::Null, &["admin", "admin key"]),
        ("GET", "/api/v1/audit".into(), Value::Null, &["admin", "admin key"]),
        (
            "GET",
            "/api/v1/me/materials".into(),
            Value::Null,
            &["teacher", "author", "other curator", "math reviewer", "physics reviewer", "admin"],
        ),
        (
            "GET",
            "/api/v1/auth/me".into(),
            Value::Null,
            &["teacher", "author", "other curator", "math reviewer", "physics reviewer", "admin"],
        ),
    ];
    for (method, path, body, allowed) in &table {
        for (name, who) in &callers {
            let (status, value) = call(&server, who, method, path, body);
            if allowed.contains(name) {
                assert_eq!(status, 200, "{name} {method} {path}: {value}");
            } else {
                assert!(matches!(status, 401 | 403 | 404), "{name} {method} {path}: {status} {value}");
                assert!(value["error"]["code"].is_string(), "{name} {method} {path}: {value}");
                assert!(!value.to_string().contains("lượng giác"), "{name} {method} {path} leaks: {value}");
            }
        }
    }
    // The physics reviewer's queue holds nothing of mathematics.
    let (_, queue) = call(&server, &Who::Browser(&physics), "GET", "/api/v1/review/queue?status=draft", &Value::Null);
    assert_eq!(queue["total"], 0);
    let (_, queue) = call(&server, &Who::Browser(&math), "GET", "/api/v1/review/queue?status=draft", &Value::Null);
    assert_eq!(queue["items"][0]["id"], id.as_str());

    // Workflow steps: who may take each one.
    let step = |who: &Who, s: &str, body: Value| call(&server, who, "POST", &format!("{material}/{s}"), &body);
    assert_eq!(step(&Who::Browser(&other), "submit", Value::Null).0, 404, "others cannot see it");
    assert_eq!(step(&Who::Browser(&math), "approve", Value::Null).0, 409, "a draft must be submitted first");
    let no_csrf = server.call("POST", &format!("{material}/submit"), &[("Cookie", &author.cookie)], b"");
    assert_eq!(json_of(no_csrf).1["error"]["code"], "csrf_failed");
    let (status, m) = step(&Who::Browser(&author), "submit", Value::Null);
    assert_eq!((status, m["status"].as_str()), (200, Some("submitted")), "{m}");
    assert_eq!(step(&Who::Browser(&author), "approve", Value::Null).0, 403, "no self-approval");
    assert_eq!(step(&Who::Browser(&physics), "approve", Value::Null).0, 404, "outside the reviewer's subjects");
    assert_eq!(step(&Who::Key(&write_key), "approve", Value::Null).0, 404);
    let (status, m) = step(&Who::Browser(&math), "reject", Value::Null);
    assert_eq!((status, m["error"]["field"].as_str()), (400, Some("reason")));
    let (status, m) = step(&Who::Browser(&math), "reject", json!({"reason": "Thiếu mục tiêu bài học"}));
    assert_eq!((status, m["status"].as_str()), (200, Some("rejected")), "{m}");
    let (_, mine) = call(&server, &Who::Browser(&author), "GET", "/api/v1/me/materials", &Value::Null);
    assert_eq!(mine["items"][0]["status"], "rejected");
    assert_eq!(mine["items"][0]["status_reason"], "Thiếu mục tiêu bài học");
    assert_eq!(step(&Who::Browser(&author), "submit", Value::Null).1["status"], "submitted");

    // Nothing unpublished reaches search, facets or suggest.
    let (_, found) = server.json("/api/v1/search?q=luong+giac+doc+nhat");
    assert_eq!(found["total"], 0, "{found}");
    let (_, all) = server.json("/api/v1/search?q=");
    assert_eq!(all["total"], 0, "{all}");
    assert!(all["facets"]["subject"].as_array().unwrap().is_empty(), "{all}");
    let (_, suggest) = server.json("/api/v1/suggest?q=luong+gi");
    assert_eq!(suggest["suggestions"], json!([]));

    let (status, m) = step(&Who::Browser(&math), "approve", Value::Null);
    assert_eq!((status, m["status"].as_str()), (200, Some("published")), "{m}");
    server.wait_for_hits("luong giac doc nhat", 1);
    assert_eq!(server.json(&material).0, 200, "published: public");

    // Withdrawal hides it again, keeps it, and tells the author why.
    assert_eq!(step(&Who::Browser(&author), "withdraw", json!({"reason": "x"})).0, 403);
    let (status, m) = step(&Who::Key(&review_key), "withdraw", json!({"reason": "Trùng lặp với tài liệu khác"}));
    assert_eq!((status, m["status"].as_str()), (200, Some("withdrawn")), "{m}");
    server.wait_for_hits("luong giac doc nhat", 0);
    assert_eq!(server.json(&material).0, 404);
    assert_eq!(
        call(&server, &Who::Browser(&author), "GET", &material, &Value::Null).1["status_reason"],
        "Trùng lặp với tài liệu khác"
    );
    let file = &draft["files"][0];
    assert_eq!(server.get(file["download_url"].as_str().unwrap()).status(), 404, "downloads follow visibility");

    // Everything above is in the audit log, with who and from where.
    let (_, audit) = call(&server, &Who::Browser(&admin), "GET", "/api/v1/audit", &Value::Null);
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in [
        "user.create",
        "user.set_role",
        "auth.login",
        "material.submit",
        "material.reject",
        "material.approve",
        "material.withdraw",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let withdraw = audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "material.withdraw").unwrap();
    assert_eq!(withdraw["actor_kind"], "api_key");
    assert_eq!(withdraw["details"]["reason"], "Trùng lặp với tài liệu khác");
    assert_eq!(withdraw["ip"], "127.0.0.1");
    let jsonl = data.run(&["audit"]);
    assert!(String::from_utf8(jsonl.stdout).unwrap().lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn sessions_passwords_and_throttling() {
    let data = Data::new();
    data.user("giaovien", "curator", PASSWORD, &["--email", "gv@truong.edu.vn"]);
    data.user("admin", "admin", PASSWORD, &[]);
    let server = data.serve(&[]);
    let (status, e) = sign_in(&server, "giaovien", "sai mật khẩu rồi").err().unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("invalid_credentials")));
    let (status, _) = sign_in(&server, "khong-ton-tai", PASSWORD).err().unwrap();
    assert_eq!(status, 401, "unknown names look like wrong passwords");
    // By email too; each sign-in is a new session.
    let a = sign_in(&server, "GV@truong.edu.vn", PASSWORD).unwrap();
    let b = sign_in(&server, "giaovien", PASSWORD).unwrap();
    assert_ne!(a.cookie, b.cookie);
    // Changing the password ends every session.
    let change = json!({"current": PASSWORD, "new": "mật khẩu mới an toàn"});
    assert_eq!(call(&server, &Who::Browser(&a), "POST", "/api/v1/auth/password", &change).0, 204);
    let (status, e) = call(&server, &Who::Browser(&b), "GET", "/api/v1/auth/me", &Value::Null);
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("session_expired")));
    assert!(sign_in(&server, "giaovien", "mật khẩu mới an toàn").is_ok());
    // Five failures lock the account, even for the right password.
    for _ in 0..4 {
        assert_eq!(sign_in(&server, "admin", "đoán sai mật khẩu").err().unwrap().0, 401);
    }
    let (status, e) = sign_in(&server, "admin", "đoán sai mật khẩu").err().unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (429, Some("account_locked")));
    assert_eq!(sign_in(&server, "admin", PASSWORD).err().unwrap().0, 429);
    // A disabled account's sessions end at once.
    let c = sign_in(&server, "giaovien", "mật khẩu mới an toàn").unwrap();
    assert!(data.run(&["user", "disable", "giaovien"]).status.success());
    assert_eq!(call(&server, &Who::Browser(&c), "GET", "/api/v1/auth/me", &Value::Null).0, 401);
}

#[test]
fn a_deployment_may_require_sign_in_for_reads() {
    let data = Data::new().with_env("HOCLIEU__ACCOUNTS__REQUIRE_SIGN_IN", "true");
    let read = data.api_key("read");
    let server = data.serve(&[]);
    let (status, e) = server.json("/api/v1/search?q=toan");
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(call(&server, &Who::Key(&read), "GET", "/api/v1/search?q=toan", &Value::Null).0, 200);
    assert_eq!(server.json("/api/v1/suggest?q=to").0, 401);
    assert_eq!(server.json("/healthz").0, 200, "health stays open");
}
