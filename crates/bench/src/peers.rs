//! The peers, loaded with the same records and asked the same queries, in-process from Rust on
//! one connection:
//! - PostgreSQL full-text search as a ministry would set it up: `unaccent` + `simple` config, a
//!   weighted tsvector (title A, lesson and chapter B, keywords C, description D) with a GIN
//!   index, ranked with `ts_rank`, top 10 with the total count;
//! - SQLite FTS5 (`unicode61 remove_diacritics 2`, đ folded by hand since FTS5 keeps it), ranked
//!   with `bm25` using the same weights, top 10 with the total count.
//!
//! Neither computes facets or snippets, which hoclieu does in every search: the comparison
//! favours the peers.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use hoclieu_domain::text::fold_text;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use crate::Engine;

/// The searchable text of one record.
pub struct Doc {
    pub title: String,
    pub lesson: String,
    pub chapter: String,
    pub keywords: String,
    pub description: String,
}

/// The records file, one record at a time (nothing is held whole: 1M records are ~800 MB).
pub fn docs(records: &Path) -> std::io::Result<impl Iterator<Item = std::io::Result<Doc>>> {
    let file = std::io::BufReader::new(std::fs::File::open(records)?);
    Ok(file.lines().filter_map(|line| {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let v = serde_json::from_str::<serde_json::Value>(&line).ok()?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let keywords = v["keywords"]
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        Some(Ok(Doc {
            title: s("title"),
            lesson: s("lesson"),
            chapter: s("chapter"),
            keywords,
            description: s("description"),
        }))
    }))
}

type Res<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

pub struct PgPeer {
    conn: PgConnection,
}

const PG_SETUP: &str = r#"
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
DROP TABLE IF EXISTS peer;
CREATE TABLE peer (
  id bigint PRIMARY KEY, title text, lesson text, chapter text, keywords text, description text,
  tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', f_unaccent(coalesce(title, ''))), 'A') ||
    setweight(to_tsvector('simple', f_unaccent(coalesce(lesson, '') || ' ' || coalesce(chapter, ''))), 'B') ||
    setweight(to_tsvector('simple', f_unaccent(coalesce(keywords, ''))), 'C') ||
    setweight(to_tsvector('simple', f_unaccent(coalesce(description, ''))), 'D')) STORED);
"#;

const PG_QUERY: &str = "SELECT id, ts_rank(tsv, q) AS rank, count(*) OVER () AS total \
    FROM peer, plainto_tsquery('simple', f_unaccent($1)) q WHERE tsv @@ q ORDER BY rank DESC LIMIT 10";

/// Text for COPY … FROM STDIN (text format).
fn copy_field(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

impl PgPeer {
    pub async fn connect(url: &str) -> Res<PgPeer> {
        Ok(PgPeer { conn: PgConnection::connect(url).await.map_err(e("connect to PostgreSQL"))? })
    }

    pub async fn version(&mut self) -> Res<String> {
        let row = sqlx::query("SHOW server_version").fetch_one(&mut self.conn).await.map_err(e("version"))?;
        Ok(row.get::<String, _>(0))
    }

    /// Loads the records with COPY, then builds the GIN index; returns (rows, seconds).
    pub async fn load(&mut self, records: &Path) -> Res<(u64, f64)> {
        let started = Instant::now();
        sqlx::raw_sql(PG_SETUP).execute(&mut self.conn).await.map_err(e("set up the peer table"))?;
        let mut copy = self
            .conn
            .copy_in_raw("COPY peer (id, title, lesson, chapter, keywords, description) FROM STDIN")
            .await
            .map_err(e("COPY"))?;
        // Sent in chunks of about 1 MB of COPY text.
        let mut chunk = String::new();
        for (id, d) in docs(records).map_err(e("read the records"))?.enumerate() {
            let d = d.map_err(e("read the records"))?;
            chunk.push_str(&(id + 1).to_string());
            for f in [&d.title, &d.lesson, &d.chapter, &d.keywords, &d.description] {
                chunk.push('\t');
                copy_field(&mut chunk, f);
            }
            chunk.push('\n');
            if chunk.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut chunk).into_bytes()).await.map_err(e("COPY data"))?;
            }
        }
        if !chunk.is_empty() {
            copy.send(chunk.into_bytes()).await.map_err(e("COPY data"))?;
        }
        let rows = copy.finish().await.map_err(e("COPY finish"))?;
        sqlx::raw_sql("CREATE INDEX peer_tsv ON peer USING gin (tsv); ANALYZE peer;")
            .execute(&mut self.conn)
            .await
            .map_err(e("GIN index"))?;
        Ok((rows, started.elapsed().as_secs_f64()))
    }

    /// Bytes on disk of the loaded table and its full-text index.
    pub async fn size_bytes(&mut self) -> Res<u64> {
        let row = sqlx::query("SELECT pg_total_relation_size('peer')")
            .fetch_one(&mut self.conn)
            .await
            .map_err(e("table size"))?;
        Ok(row.get::<i64, _>(0) as u64)
    }
}

impl Engine for PgPeer {
    async fn search_ms(&mut self, q: &str) -> Res<(f64, i64)> {
        let started = Instant::now();
        let rows = sqlx::query(PG_QUERY).bind(q).fetch_all(&mut self.conn).await.map_err(e("PostgreSQL search"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok((ms, rows.first().map_or(0, |r| r.get::<i64, _>("total"))))
    }
}

pub struct SqlitePeer {
    conn: SqliteConnection,
}

/// FTS5's `remove_diacritics` leaves đ alone (it is a letter, not a mark).
fn fold_d(s: &str) -> String {
    s.replace('đ', "d").replace('Đ', "D")
}

/// The query as FTS5 syntax: every folded word quoted, all required (as plainto_tsquery does).
fn fts5_query(q: &str) -> String {
    fold_text(q).split_whitespace().map(|w| format!("\"{}\"", w.replace('"', ""))).collect::<Vec<_>>().join(" ")
}

impl SqlitePeer {
    pub async fn open(file: &Path) -> Res<SqlitePeer> {
        let _ = std::fs::remove_file(file);
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Ok(SqlitePeer { conn: SqliteConnection::connect(&url).await.map_err(e("open SQLite"))? })
    }

    pub async fn version(&mut self) -> Res<String> {
        let row = sqlx::query("SELECT sqlite_version()").fetch_one(&mut self.conn).await.map_err(e("version"))?;
        Ok(row.get::<String, _>(0))
    }

    pub async fn load(&mut self, records: &Path) -> Res<(u64, f64)> {
        let started = Instant::now();
        sqlx::raw_sql(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             CREATE VIRTUAL TABLE peer USING fts5(title, lesson, chapter, keywords, description, \
             tokenize = 'unicode61 remove_diacritics 2');",
        )
        .execute(&mut self.conn)
        .await
        .map_err(e("set up FTS5"))?;
        let mut rows = 0u64;
        let mut all = docs(records).map_err(e("read the records"))?.peekable();
        // One transaction per 50,000 rows.
        while all.peek().is_some() {
            let mut tx = self.conn.begin().await.map_err(e("begin"))?;
            for d in all.by_ref().take(50_000) {
                let d = d.map_err(e("read the records"))?;
                sqlx::query("INSERT INTO peer (title, lesson, chapter, keywords, description) VALUES (?, ?, ?, ?, ?)")
                    .bind(fold_d(&d.title))
                    .bind(fold_d(&d.lesson))
                    .bind(fold_d(&d.chapter))
                    .bind(fold_d(&d.keywords))
                    .bind(fold_d(&d.description))
                    .execute(&mut *tx)
                    .await
                    .map_err(e("insert"))?;
                rows += 1;
            }
            tx.commit().await.map_err(e("commit"))?;
        }
        sqlx::raw_sql("INSERT INTO peer(peer) VALUES('optimize');")
            .execute(&mut self.conn)
            .await
            .map_err(e("optimize"))?;
        Ok((rows, started.elapsed().as_secs_f64()))
    }

    /// Bytes on disk of the loaded table and its full-text index.
    pub async fn size_bytes(&mut self) -> Res<u64> {
        let row = sqlx::query("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(e("database size"))?;
        Ok(row.get::<i64, _>(0) as u64)
    }
}

impl Engine for SqlitePeer {
    async fn search_ms(&mut self, q: &str) -> Res<(f64, i64)> {
        let expr = fts5_query(q);
        if expr.is_empty() {
            return Ok((0.0, 0));
        }
        let started = Instant::now();
        let rows = sqlx::query(
            // bm25() cannot be used in a window, so the count is a subquery (computed once).
            "SELECT rowid, bm25(peer, 10.0, 5.0, 5.0, 3.0, 1.0) AS rank, \
             (SELECT count(*) FROM peer WHERE peer MATCH ?1) AS total \
             FROM peer WHERE peer MATCH ?1 ORDER BY rank LIMIT 10",
        )
        .bind(&expr)
        .fetch_all(&mut self.conn)
        .await
        .map_err(e("FTS5 search"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok((ms, rows.first().map_or(0, |r| r.get::<i64, _>("total"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_fts5_queries_fold() {
        let mut s = String::new();
        copy_field(&mut s, "a\tb\\c\nd");
        assert_eq!(s, "a\\tb\\\\c\\nd");
        assert_eq!(fts5_query("Đường \"tròn\" lớp 9"), "\"duong\" \"tron\" \"lop\" \"9\"");
        assert_eq!(fold_d("Đạo đức"), "Dạo dức");
    }
}
