//! sea-orm entities. Private to this crate: other crates see `hoclieu_domain` types only.

pub mod material {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "materials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub external_id: Option<String>,
        pub title: String,
        pub description: Option<String>,
        pub subject: String,
        pub grade: Option<i16>,
        pub series: Option<String>,
        pub resource_type: String,
        pub chapter: Option<String>,
        pub lesson: Option<String>,
        /// JSON array of strings.
        pub keywords: String,
        /// JSON array of strings.
        pub authors: String,
        pub organization: Option<String>,
        pub province: Option<String>,
        pub license: String,
        pub language: String,
        pub url: Option<String>,
        pub status: String,
        pub downloads: i64,
        /// The account that created it (none for imports and API keys).
        pub author_id: Option<Uuid>,
        /// The API key that created it.
        pub author_key_id: Option<Uuid>,
        /// Why it was rejected or withdrawn (shown to the author).
        pub status_reason: Option<String>,
        /// The number of the published version (1 until an edit is approved).
        pub version: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod blob {
    use sea_orm::entity::prelude::*;

    /// Distinct file contents: identical bytes are stored once.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub size: i64,
        pub object_key: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod material_file {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "material_files")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub material_id: Uuid,
        pub position: i32,
        pub name: String,
        pub media_type: String,
        pub sha256: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod change {
    use sea_orm::entity::prelude::*;

    /// The change sequence: one row per committed change of a material, in commit order.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub material_id: Uuid,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        /// The first characters of the token, shown in lists to tell keys apart.
        pub prefix: String,
        /// SHA-256 of the whole token (tokens are 256-bit random: a slow hash adds nothing).
        #[sea_orm(unique)]
        pub token_hash: String,
        /// Space-separated scopes.
        pub scopes: String,
        /// The organisation the key acts for: its uploads carry it.
        pub organization: Option<String>,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod search_log {
    use sea_orm::entity::prelude::*;

    /// What teachers searched for and how many results they got. No personal data: no user,
    /// no address, no session.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "search_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub created_at: DateTimeUtc,
        pub query: String,
        /// The query folded (no diacritics, lowercase): variants of one query group together.
        pub query_key: String,
        pub filters: String,
        pub results: i64,
        pub corrected: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod upload {
    use sea_orm::entity::prelude::*;

    /// A resumable (tus) upload in progress: its parts are objects under `uploads/<id>/`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "uploads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub length: i64,
        pub offset: i64,
        /// JSON array of parts: {"offset", "size", "key"}.
        pub parts: String,
        /// The Upload-Metadata header as received (echoed by HEAD).
        pub metadata_header: String,
        pub file_name: Option<String>,
        /// The material's metadata (import JSON), when given at creation.
        pub record: Option<String>,
        pub api_key_id: Option<Uuid>,
        /// How the material enters the workflow (JSON from the ingest crate).
        pub origin: Option<String>,
        pub material_id: Option<Uuid>,
        pub error: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    use sea_orm::entity::prelude::*;

    /// A job waiting or running. `lease` names the worker run that holds it until
    /// `leased_until`; after that another worker may take it (at-least-once).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: String,
        pub key: String,
        pub attempts: i32,
        pub run_after: DateTimeUtc,
        pub lease: Option<Uuid>,
        pub leased_until: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod derivation {
    use sea_orm::entity::prelude::*;

    /// What was derived from one blob.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "derivations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub status: String,
        pub kind: String,
        pub reason: Option<String>,
        /// Object name of the thumbnail (copied out of `derived` so lists need not parse it).
        pub thumbnail: Option<String>,
        /// Extracted text (NFC), capped.
        pub text: Option<String>,
        /// JSON of `hoclieu_domain::Derived`.
        pub derived: String,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub username: String,
        #[sea_orm(unique)]
        pub email: Option<String>,
        pub display_name: String,
        pub organization: Option<String>,
        pub province: Option<String>,
        pub role: String,
        /// JSON arrays of codes (reviewers' scope; empty: all).
        pub review_subjects: String,
        pub review_provinces: String,
        /// argon2id PHC string.
        pub password_hash: String,
        pub failed_logins: i32,
        /// Sign-ins from addresses not in `known_addresses` wait until then.
        pub locked_until: Option<DateTimeUtc>,
        /// JSON array of the addresses (throttling keys) the account signed in from lately.
        pub known_addresses: String,
        pub disabled_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    /// A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        pub csrf: String,
        pub created_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    use sea_orm::entity::prelude::*;

    /// Who did what, when, from where. Append-only.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub actor_kind: String,
        pub actor_id: Option<Uuid>,
        pub actor_name: Option<String>,
        pub action: String,
        pub target_kind: String,
        pub target_id: Option<String>,
        /// JSON object.
        pub details: String,
        pub ip: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod material_version {
    use sea_orm::entity::prelude::*;

    /// A proposed edit of a published material (draft, submitted, rejected), the version now
    /// published, or an earlier one kept (previous).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "material_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub material_id: Uuid,
        pub number: i32,
        pub status: String,
        /// JSON of `hoclieu_domain::MaterialMeta`.
        pub meta: String,
        pub reason: Option<String>,
        pub author_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Whether the proposal brings its own files (else it takes the material's on approval).
        pub files_changed: bool,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod version_file {
    use sea_orm::entity::prelude::*;

    /// A file of a version (see `material_version`); `file_id` is the file's id in every version
    /// that carries it.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "version_files")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub file_id: Uuid,
        pub position: i32,
        pub name: String,
        pub media_type: String,
        pub sha256: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
