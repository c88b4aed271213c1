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
    let (_, users) = call(&server, &Who::Browser(&admin), "GET", "/api/v1/users", &Value::Null);
    let teacher_id = users["users"].as_array().unwrap().iter().find(|u| u["username"] == "hocsinh").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_user = json!({"username": "moi", "display_name": "Mới", "role": "teacher", "password": PASSWORD});
    // (method, path, body, callers allowed). Everyone else gets 401, 403 or 404 — never data.
    let table: Vec<(&str, String, Value, &[&str])> = vec![
        ("POST", "/api/v1/users".into(), new_user, &["admin", "admin key"]),
        ("POST", "/api/v1/keys".into(), json!({"name": "LMS thử", "scopes": ["read"]}), &["admin", "admin key"]),
        ("POST", format!("/api/v1/users/{teacher_id}/role"), json!({"role": "teacher"}), &["admin", "admin key"]),
        (
            "GET",
            "/api/v1/search?q=".into(),
            Value::Null,
            &[
                "anonymous",
                "read key",
                "write key",
                "review key",
                "admin key",
                "teacher",
                "author",
                "other curator",
                "math reviewer",
                "physics reviewer",
                "admin",
            ],
        ),
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
            format!("{material}/versions"),
            Value::Null,
            &["author", "math reviewer", "admin", "review key", "admin key"],
        ),
        (
            "GET",
            format!("{material}/files/{}/preview", draft["files"][0]["id"].as_str().unwrap()),
            Value::Null,
            &["author", "math reviewer", "admin", "review key", "admin key"],
        ),
        (
            "GET",
            format!("/tai-lieu/{id}"),
            Value::Null,
            &["author", "math reviewer", "admin", "review key", "admin key"],
        ),
        (
            "GET",
            format!("{material}/files/{}/download", draft["files"][0]["id"].as_str().unwrap()),
            Value::Null,
            &["author", "math reviewer", "admin", "review key", "admin key"],
        ),
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
        // Last: it ends the teacher's session.
        ("POST", format!("/api/v1/users/{teacher_id}/disable"), Value::Null, &["admin", "admin key"]),
    ];
    for (method, path, body, allowed) in &table {
        for (name, who) in &callers {
            let (status, value) = call(&server, who, method, path, body);
            if allowed.contains(name) {
                // 409: allowed, but the first allowed caller already created that account.
                assert!((200..300).contains(&status) || status == 409, "{name} {method} {path}: {status} {value}");
            } else {
                // Pages answer in HTML: an error page with its code, or (401) the sign-in page.
                let is_page = !path.starts_with("/api/");
                let page = is_page && (value.as_str().is_some_and(|h| h.contains("data-code=")) || status == 303);
                let refused = matches!(status, 401 | 403 | 404) || (is_page && status == 303);
                assert!(refused, "{name} {method} {path}: {status} {value}");
                assert!(value["error"]["code"].is_string() || page, "{name} {method} {path}: {value}");
                assert!(!value.to_string().contains("lượng giác"), "{name} {method} {path} leaks: {value}");
            }
        }
    }
    // Endpoints with bodies of their own: new files (multipart), tus uploads, key revocation.
    let with_auth = |who: &Who, mut headers: Vec<(&'static str, String)>| {
        match who {
            Who::Anonymous => {}
            Who::Key(t) => headers.push(("Authorization", format!("Bearer {t}"))),
            Who::Browser(b) => {
                headers.push(("Cookie", b.cookie.clone()));
                headers.push(("X-CSRF-Token", b.csrf.clone()));
            }
        }
        headers
    };
    let refused = |name: &str, what: &str, status: u16, body: &Value| {
        assert!(matches!(status, 401 | 403 | 404), "{name} {what}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{name} {what}: {body}");
        assert!(!body.to_string().contains("lượng giác"), "{name} {what} leaks: {body}");
    };
    for (name, who) in &callers {
        let (ct, body) = multipart(None, &[("ban-moi.txt", "Lượng giác, bản mới".as_bytes())]);
        let headers = with_auth(who, vec![("Content-Type", ct)]);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, m) = json_of(server.post(&format!("{material}/versions"), &headers, &body));
        if ["author", "admin", "admin key"].contains(name) {
            assert_eq!((status, m["files"][0]["name"].as_str()), (200, Some("ban-moi.txt")), "{name}: {m}");
        } else {
            refused(name, "POST versions", status, &m);
        }
    }
    let uploaders = ["write key", "admin key", "author", "other curator", "math reviewer", "physics reviewer", "admin"];
    for (name, who) in &callers {
        let headers = with_auth(who, vec![("Tus-Resumable", "1.0.0".into()), ("Upload-Length", "4".into())]);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = json_of(server.post("/api/v1/uploads", &headers, b""));
        if uploaders.contains(name) {
            assert_eq!(status, 201, "{name} POST /api/v1/uploads: {body}");
        } else {
            refused(name, "POST /api/v1/uploads", status, &body);
        }
    }
    for (name, who) in &callers {
        let (_, key) =
            call(&server, &Who::Key(&admin_key), "POST", "/api/v1/keys", &json!({"name": "tạm", "scopes": ["read"]}));
        let token = key["token"].as_str().unwrap().to_owned();
        let (status, body) =
            call(&server, who, "DELETE", &format!("/api/v1/keys/{}", key["id"].as_str().unwrap()), &Value::Null);
        let still = call(&server, &Who::Key(&token), "GET", "/api/v1/search?q=", &Value::Null).0;
        if ["admin", "admin key"].contains(name) {
            assert_eq!((status, still), (204, 401), "{name} DELETE /api/v1/keys: {body}");
        } else {
            refused(name, "DELETE /api/v1/keys", status, &body);
            assert_eq!(still, 200, "{name}: the key still works");
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
    // The author edits the rejected material (others may not), then resubmits it.
    let edited = json!({"title": "Bản nháp lượng giác độc nhất (sửa)", "subject": "toan", "grade": 10,
        "resource_type": "bai-giang", "province": "ha-noi", "description": "Mục tiêu: nhận biết giá trị lượng giác"});
    assert_eq!(call(&server, &Who::Browser(&other), "PUT", &material, &edited).0, 404);
    assert_eq!(call(&server, &Who::Browser(&math), "PUT", &material, &edited).0, 403, "reviewers review, authors edit");
    let (status, m) = call(&server, &Who::Browser(&author), "PUT", &material, &edited);
    assert_eq!((status, m["title"].as_str()), (200, Some("Bản nháp lượng giác độc nhất (sửa)")), "{m}");
    let (status, m) = call(&server, &Who::Browser(&author), "PUT", &material, &json!({"title": ""}));
    assert_eq!(status, 422, "{m}");
    assert_eq!(step(&Who::Browser(&author), "submit", Value::Null).1["status"], "submitted");
    assert_eq!(call(&server, &Who::Browser(&author), "PUT", &material, &edited).0, 403, "not while in review");

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

    // Uploads: curators, reviewers, admins and `write`/`admin` keys; drafts unless admin.
    for (name, who) in &callers {
        let meta = json!({"title": format!("Tải lên của {name}"), "subject": "toan", "resource_type": "bai-giang"})
            .to_string();
        let (ct, body) = multipart(Some(&meta), &[("a.txt", b"noi dung")]);
        let mut headers = vec![("Content-Type", ct.clone())];
        match who {
            Who::Anonymous => {}
            Who::Key(t) => headers.push(("Authorization", format!("Bearer {t}"))),
            Who::Browser(b) => {
                headers.push(("Cookie", b.cookie.clone()));
                headers.push(("X-CSRF-Token", b.csrf.clone()));
            }
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, m) = json_of(server.post("/api/v1/materials", &headers, &body));
        let may = ["write key", "admin key", "author", "other curator", "math reviewer", "physics reviewer", "admin"];
        if may.contains(name) {
            assert_eq!(status, 201, "{name}: {m}");
            let publishes = ["admin key", "admin"].contains(name);
            assert_eq!(m["status"], if publishes { "published" } else { "draft" }, "{name}");
        } else {
            assert!(matches!(status, 401 | 403), "{name}: {status} {m}");
        }
    }
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
    // Failures from one address slow that address down (X-Forwarded-For from a client that is
    // not a trusted proxy changes nothing)...
    for i in 0..3 {
        let spoofed = [("Content-Type", "application/json"), ("X-Forwarded-For", &format!("10.9.8.{i}") as &str)];
        let body = json!({"login": "admin", "password": "đoán sai mật khẩu"}).to_string();
        assert_eq!(server.post("/api/v1/auth/login", &spoofed, body.as_bytes()).status(), 401);
    }
    let (status, e) = sign_in(&server, "admin", "đoán sai mật khẩu").err().unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{e}");
    assert_eq!(sign_in(&server, "admin", PASSWORD).err().unwrap().0, 429, "even with the right password, for now");
    // ... and every failure is in the audit log with the real address, never the password.
    let audit = String::from_utf8(data.run(&["audit"]).stdout).unwrap();
    let failed: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "auth.login_failed")
        .collect();
    assert!(failed.len() >= 5, "{audit}");
    assert!(failed.iter().all(|e| e["ip"] == "127.0.0.1"), "{failed:?}");
    assert!(failed.iter().any(|e| e["details"]["login"] == "khong-ton-tai"));
    assert!(!audit.contains("đoán sai"), "no password in the audit log");
    // A disabled account's sessions end at once.
    let c = sign_in(&server, "giaovien", "mật khẩu mới an toàn").unwrap();
    assert!(data.run(&["user", "disable", "giaovien"]).status.success());
    assert_eq!(call(&server, &Who::Browser(&c), "GET", "/api/v1/auth/me", &Value::Null).0, 401);
}

/// Signs in as if from `address` (the server trusts 127.0.0.1 as its proxy).
fn sign_in_from(server: &Server, address: &str, login: &str, password: &str) -> (u16, Value) {
    let body = json!({"login": login, "password": password}).to_string();
    let headers = [("Content-Type", "application/json"), ("X-Forwarded-For", address)];
    json_of(server.post("/api/v1/auth/login", &headers, body.as_bytes()))
}

#[test]
fn nobody_can_lock_an_admin_out_by_failing_on_purpose() {
    let data = Data::new().with_env("HOCLIEU__SERVER__TRUSTED_PROXIES", r#"["127.0.0.1"]"#);
    data.user("admin", "admin", PASSWORD, &[]);
    let server = data.serve(&[]);
    // The admin works from the ministry's address.
    assert_eq!(sign_in_from(&server, "198.51.100.1", "admin", PASSWORD).0, 200);
    // An attacker fails from one address: slowed down after a few tries.
    let mut refused = 0;
    for _ in 0..6 {
        let (status, e) = sign_in_from(&server, "203.0.113.9", "admin", "đoán sai mật khẩu");
        if status == 429 {
            assert_eq!(e["error"]["code"], "too_many_attempts");
            refused += 1;
        } else {
            assert_eq!(status, 401, "{e}");
        }
    }
    assert_eq!(refused, 3, "three free tries per address, then a growing wait");
    let r = server.post(
        "/api/v1/auth/login",
        &[("Content-Type", "application/json"), ("X-Forwarded-For", "203.0.113.9")],
        json!({"login": "admin", "password": PASSWORD}).to_string().as_bytes(),
    );
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
    // From many addresses: the account then makes unknown addresses wait too...
    for i in 10..20 {
        let _ = sign_in_from(&server, &format!("203.0.113.{i}"), "admin", "đoán sai mật khẩu");
        let _ = sign_in_from(&server, &format!("203.0.113.{i}"), "admin", "đoán sai mật khẩu");
    }
    let (status, e) = sign_in_from(&server, "192.0.2.77", "admin", PASSWORD);
    assert_eq!((status, e["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{e}");
    // ... but never the address the admin signs in from.
    let (status, e) = sign_in_from(&server, "198.51.100.1", "admin", PASSWORD);
    assert_eq!(status, 200, "{e}");
    // The audit log has the forwarded addresses, since the proxy is trusted.
    let audit = String::from_utf8(data.run(&["audit"]).stdout).unwrap();
    assert!(audit.contains("\"ip\":\"203.0.113.9\""), "{audit}");
}

#[test]
fn sign_in_from_another_site_is_refused() {
    let data = Data::new();
    data.user("giaovien", "curator", PASSWORD, &[]);
    let server = data.serve(&[]);
    let body = json!({"login": "giaovien", "password": PASSWORD}).to_string();
    // What a cross-site form can send without a preflight: refused.
    let (status, e) = json_of(server.post("/api/v1/auth/login", &[("Content-Type", "text/plain")], body.as_bytes()));
    assert_eq!((status, e["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    for header in [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site"), ("Origin", "null")] {
        let r = server.post("/api/v1/auth/login", &[("Content-Type", "application/json"), header], body.as_bytes());
        assert!(header_of_set_cookie_absent(&r), "{header:?} set a session");
        let (status, e) = json_of(r);
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("csrf_failed")), "{header:?}");
    }
    let own = server.url("");
    let r = server.post(
        "/api/v1/auth/login",
        &[("Content-Type", "application/json; charset=utf-8"), ("Origin", own.trim_end_matches('/'))],
        body.as_bytes(),
    );
    assert_eq!(r.status(), 200, "the site itself signs in");
}

fn header_of_set_cookie_absent(r: &Response) -> bool {
    header(r, "set-cookie").is_empty()
}

#[test]
fn account_details_are_checked_like_material_fields() {
    let data = Data::new();
    let admin = data.api_key("admin");
    let server = data.serve(&[]);
    let user = |username: &str, display: &str, province: Option<&str>| {
        let body = json!({"username": username, "display_name": display, "role": "teacher",
            "password": PASSWORD, "province": province});
        call(&server, &Who::Key(&admin), "POST", "/api/v1/users", &body)
    };
    let long = "a".repeat(100_000);
    for (username, display, province, field) in [
        ("gv\u{0}1", "Cô Lan", None, "username"),
        ("<b>gv</b>", "Cô Lan", None, "username"),
        (long.as_str(), "Cô Lan", None, "username"),
        ("co.lan", "Cô\u{7}Lan", None, "display_name"),
        ("co.lan", "Cô Lan", Some("Sao Hoả"), "province"),
    ] {
        let (status, e) = user(username, display, province);
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{username:.20}: {e}");
    }
    let (status, u) = user("Co.Lan", "  Cô   Lan  ", Some("Thành phố Huế"));
    assert_eq!(status, 201, "{u}");
    assert_eq!((u["username"].as_str(), u["display_name"].as_str()), (Some("co.lan"), Some("Cô Lan")));
    assert_eq!(u["province"], "hue", "provinces by any of their names");
    // The command line checks the same way.
    let out = data.command(&["user", "add", "--username", "x y", "--role", "teacher"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("username"));
}

#[test]
fn write_keys_own_their_uploads_and_delete_nothing_else() {
    let data = Data::new();
    let mine = data.api_key("write");
    let stranger = data.api_key("write");
    let org_key = {
        let out = data.run(&["apikey", "create", "--name", "Sở X", "--scope", "write", "--organization", "Sở GD&ĐT X"]);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let admin = data.api_key("admin");
    let server = data.serve(&[]);
    let meta = |title: &str, org: Option<&str>| {
        json!({"title": title, "subject": "toan", "resource_type": "bai-tap", "organization": org}).to_string()
    };
    // What a write key uploads is its own: it reads, submits and deletes it; other keys see nothing.
    let (status, m) = server.upload(Some(&mine), &meta("Phiếu của khoá", None), &[("a.txt", b"bai tap")]);
    assert_eq!((status, m["status"].as_str()), (201, Some("draft")), "{m}");
    let path = format!("/api/v1/materials/{}", m["id"].as_str().unwrap());
    assert_eq!(call(&server, &Who::Key(&mine), "GET", &path, &Value::Null).0, 200);
    assert_eq!(call(&server, &Who::Key(&stranger), "GET", &path, &Value::Null).0, 404);
    assert_eq!(call(&server, &Who::Key(&stranger), "DELETE", &path, &Value::Null).0, 404);
    let (status, s) = call(&server, &Who::Key(&mine), "POST", &format!("{path}/submit"), &Value::Null);
    assert_eq!((status, s["status"].as_str()), (200, Some("submitted")), "{s}");
    assert_eq!(call(&server, &Who::Key(&mine), "DELETE", &path, &Value::Null).0, 204);
    // Published materials of others: no write key deletes them, except one bound to their
    // organisation.
    let (_, theirs) = server.upload(Some(&admin), &meta("Đề của Sở Y", Some("Sở GD&ĐT Y")), &[("b.txt", b"de")]);
    let (_, of_x) = server.upload(Some(&admin), &meta("Đề của Sở X", Some("Sở GD&ĐT X")), &[("c.txt", b"de x")]);
    let theirs = format!("/api/v1/materials/{}", theirs["id"].as_str().unwrap());
    let of_x = format!("/api/v1/materials/{}", of_x["id"].as_str().unwrap());
    for key in [&mine, &stranger, &org_key] {
        let (status, e) = call(&server, &Who::Key(key), "DELETE", &theirs, &Value::Null);
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    }
    assert_eq!(call(&server, &Who::Key(&mine), "DELETE", &of_x, &Value::Null).0, 403);
    assert_eq!(call(&server, &Who::Key(&org_key), "DELETE", &of_x, &Value::Null).0, 204);
    assert_eq!(server.json(&theirs).0, 200, "still there");
}

#[test]
fn answers_about_unpublished_materials_stay_out_of_shared_caches() {
    let data = Data::new();
    let key = data.api_key("write");
    let admin = data.api_key("admin");
    let server = data.serve(&[]);
    let meta = r#"{"title":"Bản nháp riêng","subject":"toan","resource_type":"bai-tap"}"#;
    let (_, draft) = server.upload(Some(&key), meta, &[("a.txt", b"noi dung rieng")]);
    let (_, public) = server.upload(Some(&admin), meta, &[("b.txt", b"noi dung chung")]);
    let auth = format!("Bearer {key}");
    for (m, private) in [(&draft, true), (&public, false)] {
        let id = m["id"].as_str().unwrap();
        let file = m["files"][0]["id"].as_str().unwrap();
        for path in [format!("/api/v1/materials/{id}"), format!("/api/v1/materials/{id}/files/{file}/preview")] {
            let r = server.get_with(&path, &[("Authorization", &auth)]);
            assert_eq!(r.status(), 200, "{path}");
            let cache = header(&r, "cache-control");
            if private {
                assert!(cache.contains("private") && cache.contains("no-store"), "{path}: {cache}");
                assert!(header(&r, "vary").contains("Cookie"), "{path}");
            } else {
                assert!(!cache.contains("private"), "{path}: {cache}");
            }
        }
    }
}

#[test]
fn keys_bound_to_an_organisation_stamp_their_uploads() {
    let data = Data::new();
    let out = data.run(&[
        "apikey",
        "create",
        "--name",
        "LMS Hà Nội",
        "--scope",
        "admin",
        "--organization",
        "Sở GD&ĐT Hà Nội",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let server = data.serve(&[]);
    let meta = r#"{"title":"Bài giảng của Sở","subject":"toan","resource_type":"bai-giang"}"#;
    let (status, m) = server.upload(Some(&token), meta, &[("a.txt", b"noi dung")]);
    assert_eq!((status, m["organization"].as_str()), (201, Some("Sở GD&ĐT Hà Nội")), "{m}");
    let other =
        r#"{"title":"Bài giảng khác","subject":"toan","resource_type":"bai-giang","organization":"Sở GD&ĐT Huế"}"#;
    let (status, e) = server.upload(Some(&token), other, &[("a.txt", b"noi dung")]);
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("organization")), "{e}");
    let (_, keys) = call(&server, &Who::Key(&token), "GET", "/api/v1/keys", &Value::Null);
    assert_eq!(keys["keys"][0]["organization"], "Sở GD&ĐT Hà Nội");
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
    let r = server.get("/");
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/dang-nhap".to_owned()), "the search page too");
    assert_eq!(server.get("/dang-nhap").status(), 200, "the sign-in page stays open");
}

#[test]
fn published_materials_change_through_reviewed_versions() {
    let data = Data::new();
    data.user("giaovien", "curator", PASSWORD, &[]);
    data.user("thamdinh", "reviewer", PASSWORD, &[]);
    let server = data.serve(&[]);
    let author = sign_in(&server, "giaovien", PASSWORD).unwrap();
    let reviewer = sign_in(&server, "thamdinh", PASSWORD).unwrap();
    let m = upload_as(&server, &author, "Hàm số bậc nhất phiên bản đầu", "toan");
    let material = format!("/api/v1/materials/{}", m["id"].as_str().unwrap());
    let post = |who: &Browser, path: &str, body: Value| call(&server, &Who::Browser(who), "POST", path, &body);
    assert_eq!(post(&author, &format!("{material}/submit"), Value::Null).0, 200);
    assert_eq!(post(&reviewer, &format!("{material}/approve"), Value::Null).0, 200);
    server.wait_for_hits("ham so bac nhat phien ban dau", 1);

    // The author's edit is a proposal: the published version stays until it is approved.
    let edit = |title: &str| json!({"title": title, "subject": "toan", "grade": 10, "resource_type": "bai-giang", "province": "ha-noi"});
    let (status, v) = call(&server, &Who::Browser(&author), "PUT", &material, &edit("Hàm số bậc nhất bản sửa chữa"));
    assert_eq!((status, v["number"].as_u64(), v["status"].as_str()), (202, Some(2), Some("draft")), "{v}");
    assert_eq!(server.json(&material).1["title"], "Hàm số bậc nhất phiên bản đầu");
    let (_, public) = server.json(&format!("{material}/versions"));
    assert_eq!(public["versions"], json!([]), "proposals are not public");
    let (_, own) = call(&server, &Who::Browser(&author), "GET", &format!("{material}/versions"), &Value::Null);
    assert_eq!(own["versions"][0]["status"], "draft");
    assert_eq!(post(&author, &format!("{material}/versions/2/submit"), Value::Null).1["status"], "submitted");
    let (status, e) = call(&server, &Who::Browser(&author), "PUT", &material, &edit("Thêm một lần sửa"));
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("invalid_state")));
    assert_eq!(post(&author, &format!("{material}/versions/2/approve"), Value::Null).0, 403, "no self-approval");
    let (status, v) = post(&reviewer, &format!("{material}/versions/2/approve"), Value::Null);
    assert_eq!((status, v["status"].as_str()), (200, Some("published")), "{v}");
    let (_, now) = server.json(&material);
    assert_eq!((now["title"].as_str(), now["version"].as_u64()), (Some("Hàm số bậc nhất bản sửa chữa"), Some(2)));
    eventually(|| {
        let (_, found) = server.json("/api/v1/search?q=ham+so+bac+nhat+ban+sua+chua");
        (found["hits"][0]["title"] == "Hàm số bậc nhất bản sửa chữa").then_some(())
    });
    // The old title's words no longer all match (at most relaxed results).
    let (_, old) = server.json("/api/v1/search?q=ham+so+bac+nhat+phien+ban+dau");
    assert!(old["total"] == 0 || old["relaxed"] == true, "{old}");
    // Both versions are kept and listed.
    let (_, list) = server.json(&format!("{material}/versions"));
    let statuses: Vec<(u64, &str)> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["number"].as_u64().unwrap(), v["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(1, "previous"), (2, "published")]);
    assert_eq!(list["versions"][0]["title"], "Hàm số bậc nhất phiên bản đầu");

    // A rejected proposal goes back to its author, who edits it into a draft again.
    let (_, v) = call(&server, &Who::Browser(&author), "PUT", &material, &edit("Bản sửa bị từ chối"));
    assert_eq!(v["number"], 3);
    post(&author, &format!("{material}/versions/3/submit"), Value::Null);
    let (status, v) = post(&reviewer, &format!("{material}/versions/3/reject"), json!({"reason": "Sai chính tả"}));
    assert_eq!((status, v["status"].as_str(), v["reason"].as_str()), (200, Some("rejected"), Some("Sai chính tả")));
    let (_, v) = call(&server, &Who::Browser(&author), "PUT", &material, &edit("Bản sửa đã chữa"));
    assert_eq!((v["number"].as_u64(), v["status"].as_str()), (Some(3), Some("draft")));
    assert_eq!(server.json(&material).1["title"], "Hàm số bậc nhất bản sửa chữa");
}

#[test]
fn new_files_arrive_as_versions_and_every_file_is_kept() {
    let data = Data::new();
    data.user("giaovien", "curator", PASSWORD, &[]);
    data.user("thamdinh", "reviewer", PASSWORD, &[]);
    let server = data.serve(&[]);
    let author = sign_in(&server, "giaovien", PASSWORD).unwrap();
    let reviewer = sign_in(&server, "thamdinh", PASSWORD).unwrap();
    let send = |b: &Browser, path: &str, meta: Option<&str>, files: &[(&str, &[u8])]| {
        let (ct, body) = multipart(meta, files);
        json_of(server.post(path, &[("Content-Type", &ct), ("Cookie", &b.cookie), ("X-CSRF-Token", &b.csrf)], &body))
    };
    let m = upload_as(&server, &author, "Phân số thập phân", "toan");
    let material = format!("/api/v1/materials/{}", m["id"].as_str().unwrap());
    let versions = format!("{material}/versions");

    // A draft's files are replaced in place.
    let (status, draft) = send(&author, &versions, None, &[("ban-nhap.txt", "bản nháp thứ hai".as_bytes())]);
    assert_eq!((status, draft["files"][0]["name"].as_str()), (200, Some("ban-nhap.txt")), "{draft}");
    assert_eq!(draft["files"].as_array().unwrap().len(), 1);
    let (status, e) = send(&author, &versions, None, &[]);
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("file")), "{e}");
    let post = |who: &Browser, path: &str, body: Value| call(&server, &Who::Browser(who), "POST", path, &body);
    assert_eq!(post(&author, &format!("{material}/submit"), Value::Null).0, 200);
    assert_eq!(post(&reviewer, &format!("{material}/approve"), Value::Null).0, 200);
    let (_, published) = server.json(&material);
    let first_file = published["files"][0].clone();
    let first_url = first_file["download_url"].as_str().unwrap().to_owned();

    // New files for a published material are a proposal: the public keeps the published files.
    let new_bytes = "Phiên bản hai: bài tập phân số".as_bytes();
    let (status, v) = send(&author, &versions, None, &[("phan-so-v2.txt", new_bytes), ("dap-an.txt", b"1/2")]);
    assert_eq!((status, v["number"].as_u64(), v["status"].as_str()), (202, Some(2), Some("draft")), "{v}");
    assert_eq!(v["title"], "Phân số thập phân", "metadata stays when only files are sent");
    let proposed = v["files"][0]["download_url"].as_str().unwrap().to_owned();
    assert_eq!(server.json(&material).1["files"], published["files"]);
    assert_eq!(server.get(&proposed).status(), 404, "proposed files are not public");
    let r = server.get_with(&proposed, &[("Cookie", &reviewer.cookie)]);
    assert_eq!((r.status().as_u16(), bytes_of(r)), (200, new_bytes.to_vec()), "reviewers read proposed files");
    assert_eq!(post(&author, &format!("{versions}/2/submit"), Value::Null).0, 200);
    // Reviewers find it in their queue (API and page) and approve it from the page.
    let (_, queue) = call(&server, &Who::Browser(&reviewer), "GET", "/api/v1/review/queue", &Value::Null);
    assert_eq!(
        (queue["versions"][0]["number"].as_u64(), queue["versions"][0]["material"]["id"].as_str()),
        (Some(2), m["id"].as_str()),
        "{queue}"
    );
    let id = m["id"].as_str().unwrap();
    let html = String::from_utf8(bytes_of(server.get_with("/tham-dinh", &[("Cookie", &reviewer.cookie)]))).unwrap();
    assert!(html.contains(&format!(r#"data-version="{id}-2""#)), "{html}");
    let page = format!("/tham-dinh/{id}/phien-ban/2");
    let html = String::from_utf8(bytes_of(server.get_with(&page, &[("Cookie", &reviewer.cookie)]))).unwrap();
    assert!(html.contains("phan-so-v2.txt") && html.contains(r#"value="approve""#), "{html}");
    assert!(html.contains(r#"<p class="version-title"><strong>Phân số thập phân</strong>"#), "both titles shown");
    assert_eq!(server.get(&page).status(), 303, "the page needs an account");
    let body = format!("step=approve&back=%2Ftham-dinh&csrf={}", reviewer.csrf);
    let r = server.post(
        &format!("/hoc-lieu/{id}/phien-ban/2/buoc"),
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", &reviewer.cookie)],
        body.as_bytes(),
    );
    assert_eq!(r.status(), 303);

    // Approved: the new files are the material's; the old file stays listed and downloadable.
    let (_, now) = server.json(&material);
    let names: Vec<&str> = now["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["phan-so-v2.txt", "dap-an.txt"]);
    assert_eq!(bytes_of(server.get(now["files"][0]["download_url"].as_str().unwrap())), new_bytes);
    assert_eq!(server.get(&first_url).status(), 404, "the current download link names current files only");
    let (_, list) = server.json(&versions);
    assert_eq!(list["versions"][0]["status"], "previous");
    let old = &list["versions"][0]["files"][0];
    assert_eq!((old["id"].clone(), old["name"].clone()), (first_file["id"].clone(), first_file["name"].clone()));
    let r = server.get(old["download_url"].as_str().unwrap());
    assert_eq!(
        (r.status().as_u16(), bytes_of(r)),
        (200, "bản nháp thứ hai".as_bytes().to_vec()),
        "earlier files are public"
    );

    // Files of earlier versions are in use: a repair keeps their bytes.
    let out = data.run(&["verify", "--repair", "--grace-minutes", "0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.get(old["download_url"].as_str().unwrap()).status(), 200);
}
