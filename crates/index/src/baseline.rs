//! The naive baseline the evaluation compares against: plain BM25 with tantivy's default
//! tokenizer (lowercase, no folding, no synonyms), the query parsed with OR semantics over the
//! same text fields, no facets or hints.

use hoclieu_domain::Material;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, TantivyDocument, doc};
use uuid::Uuid;

use crate::Result;

pub struct BaselineIndex {
    reader: tantivy::IndexReader,
    parser: QueryParser,
    id: tantivy::schema::Field,
}

impl BaselineIndex {
    pub fn build<'a>(materials: impl IntoIterator<Item = &'a Material>) -> Result<BaselineIndex> {
        let mut b = Schema::builder();
        let id = b.add_text_field("id", STRING | STORED);
        let fields = ["title", "lesson", "chapter", "keywords", "description"].map(|n| b.add_text_field(n, TEXT));
        let index = Index::create_in_ram(b.build());
        let mut writer = index.writer_with_num_threads(1, 64 << 20)?;
        for m in materials {
            let meta = &m.meta;
            let mut d = doc!(id => m.id.to_string(), fields[0] => meta.title.as_str());
            for (f, v) in [(fields[1], &meta.lesson), (fields[2], &meta.chapter), (fields[4], &meta.description)] {
                if let Some(v) = v {
                    d.add_text(f, v);
                }
            }
            for k in &meta.keywords {
                d.add_text(fields[3], k);
            }
            writer.add_document(d)?;
        }
        writer.commit()?;
        // Default semantics: any word may match (OR), as a plain search box does.
        let parser = QueryParser::for_index(&index, fields.to_vec());
        let reader = index.reader()?;
        Ok(BaselineIndex { reader, parser, id })
    }

    /// Ids of the top `n` materials for `text`.
    pub fn search(&self, text: &str, n: usize) -> Result<Vec<Uuid>> {
        let (query, _) = self.parser.parse_query_lenient(text);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(n).order_by_score())?;
        top.into_iter()
            .map(|(_, addr)| {
                let d: TantivyDocument = searcher.doc(addr)?;
                Ok(d.get_first(self.id)
                    .and_then(|v| v.as_str())
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .unwrap_or_default())
            })
            .collect()
    }
}
