//! Domain types of hoclieu: vocabularies, Vietnamese text normalisation, the material model and
//! its validation, and media-type sniffing.
//!
//! **Architecture invariant:** this crate does no I/O (no files, network, database or clock
//! reads). Everything here is a pure function of its inputs, so every other crate can rely on it
//! and it can be tested exhaustively.

pub mod auth;
pub mod error;
pub mod material;
pub mod media;
pub mod net;
pub mod preview;
pub mod spelling;
pub mod synonyms;
pub mod text;
pub mod vocab;
pub mod workflow;

pub use auth::Scope;
pub use error::Error;
pub use material::{FileEntry, GradeValue, ImportRecord, Material, MaterialMeta, Status, StoredFile};
pub use preview::{Derived, DerivedStatus, PreviewKind};
pub use synonyms::Synonyms;
pub use vocab::{Term, Vocabularies, Vocabulary};
pub use workflow::{Principal, Role, Step};
