//! The web pages over HTTP (the browser journey is in browser.rs): sizes and caching, sign-in
//! and its refusals, CSRF on every form, workflow steps from forms, administration, JSON-LD and
//! the zero-results page.

mod support;

use serde_json::Value;
use support::*;

const PASSWORD: &str = "mật khẩu thử nghiệm";

fn text(r: Response) -> String {
    String::from_utf8(bytes_of(r)).unwrap()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    html.split(r#"name="csrf" value=""#).nth(1).expect("a form with a CSRF field").split('"').next().unwrap().to_owned()
}

fn form(server: &Server, path: &str, cookie: &str, body: &str) -> Response {
    server.post(path, &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)], body.as_bytes())
}

#[test]
fn pages_forms_and_their_protections() {
    let data = Data::new();
    data.user("giaovien", "curator", PASSWORD, &[]);
    data.user("quantri", "admin", PASSWORD, &[]);
    data.user("thamdinh", "reviewer", PASSWORD, &[]);
    assert!(data.run(&["user", "set-role", "thamdinh", "--role", "reviewer", "--subject", "toan"]).status.success());
    let server = data.serve(&["--demo", repo().join("fixtures/demo/materials.jsonl").to_str().unwrap()]);
    eventually(|| (server.json("/api/v1/search").1["total"] == 48).then_some(()));

    // Small pages, assets cached for a year under content-hashed names.
    let home = text(server.get("/?q=tap+hop"));
    assert!(home.len() < 150 * 1024, "{} bytes", home.len());
    assert!(home.contains(r#"data-facet="grade""#) && home.contains("Trung học phổ thông"), "{home}");
    let css = home.split(r#"href="/static/site."#).nth(1).unwrap().split('"').next().unwrap();
    let r = server.get(&format!("/static/site.{css}"));
    assert_eq!(r.status(), 200);
    assert!(header(&r, "cache-control").contains("immutable"));
    assert_eq!(server.get("/static/site.0000.css").status(), 404);
    let none = text(server.get("/?q=zzqxw+vvkkj&grade=3"));
    assert!(none.contains(r#"id="no-results""#) && none.contains("Bỏ các bộ lọc"), "{none}");

    // JSON-LD for harvesters.
    let link = home.split(r#"href="/tai-lieu/"#).nth(1).unwrap().split('"').next().unwrap();
    let page = text(server.get(&format!("/tai-lieu/{link}")));
    let ld = page.split(r#"<script type="application/ld+json">"#).nth(1).unwrap().split("</script>").next().unwrap();
    let ld: Value = serde_json::from_str(ld).unwrap();
    assert_eq!(ld["@type"], "LearningResource");
    assert_eq!(ld["inLanguage"], "vi");
    assert!(page.len() < 150 * 1024, "material page: {} bytes", page.len());

    // Pages for accounts send visitors to sign in; cross-site and wrong sign-ins are refused.
    let r = server.get("/tai-len");
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/dang-nhap".to_owned()));
    let login = format!("login=giaovien&password={}&next=%2Fcua-toi", encode(PASSWORD));
    let r = server.post(
        "/dang-nhap",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")],
        login.as_bytes(),
    );
    assert_eq!(r.status(), 403);
    let r = form(&server, "/dang-nhap", "", "login=giaovien&password=sai+roi+nhe+ban");
    assert_eq!(r.status(), 401);
    assert!(text(r).contains("Sai tên đăng nhập hoặc mật khẩu"));
    let credentials = format!("login=giaovien&password={}", encode(PASSWORD));
    for next in ["https%3A%2F%2Fevil.example", "%2F%2Fevil.example", "%2F%09%2Fevil.example", "%2F%5Cevil.example"] {
        let r = form(&server, "/dang-nhap", "", &format!("{credentials}&next={next}"));
        assert_eq!(
            (r.status().as_u16(), header(&r, "location")),
            (303, "/cua-toi".to_owned()),
            "no open redirect: {next}"
        );
    }
    let r = form(&server, "/dang-nhap", "", &format!("{credentials}&next=%2Ftai-len"));
    assert_eq!(header(&r, "location"), "/tai-len", "a local next is followed");
    let cookie = header(&r, "set-cookie").split(';').next().unwrap().to_owned();

    // A draft from the API shows in "my materials"; its submit form needs the CSRF field.
    let mine = text(server.get_with("/cua-toi", &[("Cookie", &cookie)]));
    let csrf = csrf_of(&mine);
    let upload = text(server.get_with("/tai-len", &[("Cookie", &cookie)]));
    assert!(upload.len() < 150 * 1024, "upload page: {} bytes", upload.len());
    for field in ["title", "subject", "grade", "series", "resource_type", "province", "license"] {
        assert!(upload.contains(&format!(r#"name="{field}""#)), "{field} missing from the upload form");
    }
    assert!(upload.contains(&format!(r#"data-csrf="{csrf}""#)), "the upload script sends the CSRF token");
    let meta = r#"{"title": "Phiếu học tập tập hợp", "subject": "toan", "grade": 10, "resource_type": "bai-tap"}"#;
    let (ct, body) = multipart(Some(meta), &[("phieu.txt", "Bài 1. Cho tập hợp A".as_bytes())]);
    let (status, m) = json_of(server.post(
        "/api/v1/materials",
        &[("Content-Type", &ct), ("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        &body,
    ));
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap();
    let mine = text(server.get_with("/cua-toi", &[("Cookie", &cookie)]));
    let row = mine.split(&format!(r#"<tr data-id="{id}">"#)).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("Bản nháp") && row.contains(r#"value="submit""#), "{row}");
    let edit = text(server.get_with(&format!("/cua-toi/{id}/sua"), &[("Cookie", &cookie)]));
    assert!(edit.contains(r#"value="Phiếu học tập tập hợp""#) && edit.contains(r#"value="toan" selected"#), "{edit}");
    assert!(edit.contains(&format!(r#"data-endpoint="/api/v1/materials/{id}/versions""#)));
    let step = format!("/hoc-lieu/{id}/buoc");
    let r = form(&server, &step, &cookie, "step=submit&back=%2Fcua-toi");
    assert_eq!(r.status(), 403);
    assert!(text(r).contains(r#"data-code="csrf_failed""#));
    let r = form(&server, &step, &cookie, &format!("step=submit&back=%2Fcua-toi&csrf={}", encode(&csrf)));
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/cua-toi".to_owned()));
    assert_eq!(server.json(&format!("/api/v1/materials/{id}")).0, 404, "submitted is not published");
    let mine = text(server.get_with("/cua-toi", &[("Cookie", &cookie)]));
    assert!(mine.split(&format!(r#"<tr data-id="{id}">"#)).nth(1).unwrap().contains("Chờ thẩm định"));
    let r = server.get_with(&format!("/cua-toi/{id}/sua"), &[("Cookie", &cookie)]);
    assert_eq!(r.status(), 403, "not edited while in review");

    // Curators do not administer; admins create keys from a form and see the token once.
    assert_eq!(server.get_with("/quan-tri", &[("Cookie", &cookie)]).status(), 403);
    let r = form(&server, "/dang-nhap", "", &format!("login=quantri&password={}", encode(PASSWORD)));
    let admin = header(&r, "set-cookie").split(';').next().unwrap().to_owned();
    let page = text(server.get_with("/quan-tri", &[("Cookie", &admin)]));
    assert!(page.contains("giaovien") && page.contains("Người biên soạn"), "{page}");
    let body = format!("csrf={}&name=LMS+S%E1%BB%9F&scopes=read&scopes=write", encode(&csrf_of(&page)));
    let page = text(form(&server, "/quan-tri/khoa", &admin, &body));
    let token =
        page.split(r#"<code id="new-token">"#).nth(1).unwrap_or_else(|| panic!("{page}")).split('<').next().unwrap();
    let r = server.get_with("/api/v1/search?q=", &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(r.status(), 200, "the new key works");
    let reviewer = page.split(r#"<tr data-user=""#).find(|row| row.contains("thamdinh")).unwrap();
    let reviewer_id = reviewer.split('"').next().unwrap();
    assert!(reviewer.contains("Toán; mọi tỉnh/thành"), "{reviewer}");
    let body = format!("csrf={}&role=reviewer", encode(&csrf_of(&page)));
    let r = form(&server, &format!("/quan-tri/nguoi-dung/{reviewer_id}/vai-tro"), &admin, &body);
    assert_eq!(r.status(), 303);
    let users = json_of(server.get_with("/api/v1/users", &[("Cookie", &admin)])).1;
    let after = users["users"].as_array().unwrap().iter().find(|u| u["id"] == reviewer_id).unwrap();
    assert_eq!(after["review_subjects"], serde_json::json!(["toan"]), "saving the role keeps the scope");

    // A draft's HTML never runs in this site's origin, even asked inline; it is not cached publicly.
    let meta = r#"{"title": "Trang web bài tập", "subject": "toan", "resource_type": "bai-tap"}"#;
    let (ct, body) = multipart(Some(meta), &[("bai.html", b"<html><script>alert(1)</script></html>")]);
    let (_, m) = json_of(server.post(
        "/api/v1/materials",
        &[("Content-Type", &ct), ("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        &body,
    ));
    let url = format!("{}?inline=1", m["files"][0]["download_url"].as_str().unwrap());
    let r = server.get_with(&url, &[("Cookie", &cookie)]);
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-disposition").starts_with("attachment"), "{}", header(&r, "content-disposition"));
    assert!(header(&r, "content-security-policy").contains("sandbox"));
    assert!(header(&r, "cache-control").contains("private"), "a draft's file: {}", header(&r, "cache-control"));

    // Signing out needs the form's token (no signing out from other sites), then ends the session.
    let r = form(&server, "/dang-xuat", &cookie, "");
    assert_eq!(r.status(), 403);
    assert_eq!(server.get_with("/cua-toi", &[("Cookie", &cookie)]).status(), 200, "still signed in");
    let r = form(&server, "/dang-xuat", &cookie, &format!("csrf={}", encode(&csrf)));
    assert_eq!(r.status(), 303);
    assert_eq!(server.get_with("/cua-toi", &[("Cookie", &cookie)]).status(), 303);
    // An ended session's cookie does not stand between a teacher and a public page.
    let r = server.get_with(&format!("/tai-lieu/{link}"), &[("Cookie", &cookie)]);
    assert_eq!(r.status(), 200, "a stale cookie reads public pages");
    assert_eq!(server.get_with("/?q=tap+hop", &[("Cookie", &cookie)]).status(), 200);
}
