//! Materials, their files and blobs, and the change sequence.

use std::collections::HashMap;

use chrono::Utc;
use hoclieu_domain::{Material, MaterialMeta, PreviewKind, Status, StoredFile};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::derivations::{queue_derivations, states_of};
use crate::entity::{blob, change, material, material_file, version_file};
use crate::{CHUNK, Db, Error, Result, lock_change_sequence};

/// A file to attach to a material: its bytes are already durable in object storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
    pub object_key: String,
}

/// A material to create or update.
#[derive(Debug, Clone)]
pub struct MaterialWrite {
    pub meta: MaterialMeta,
    pub files: Vec<NewFile>,
    /// The status of a new material (an update keeps the stored one).
    pub status: Status,
    /// The account creating it, if any (an update keeps the stored one).
    pub author: Option<Uuid>,
    /// The API key creating it, if any (likewise).
    pub author_key: Option<Uuid>,
    /// The resumable upload it is made from: the upload records the material in the same
    /// transaction, and an upload that already made one refuses a second (a conflict).
    pub from_upload: Option<Uuid>,
}

impl MaterialWrite {
    /// A published material without an author account (imports by an administrator).
    pub fn published(meta: MaterialMeta, files: Vec<NewFile>) -> Self {
        MaterialWrite { meta, files, status: Status::Published, author: None, author_key: None, from_upload: None }
    }
}

/// What to do when a write names an external id that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Update that material (imports: re-running an import is idempotent).
    Update,
    /// Refuse with [`Error::Conflict`] (API creation).
    Conflict,
}

/// What happened to one material of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created(Uuid),
    Updated(Uuid),
    /// The stored material already had exactly this metadata and these files.
    Unchanged(Uuid),
}

impl Outcome {
    pub fn id(self) -> Uuid {
        match self {
            Outcome::Created(id) | Outcome::Updated(id) | Outcome::Unchanged(id) => id,
        }
    }
}

/// The result of a batch write.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// One outcome per input, in input order.
    pub outcomes: Vec<Outcome>,
    /// Objects the caller stored that turned out to duplicate an existing blob: delete them.
    pub redundant_objects: Vec<String>,
}

/// One entry of the change sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub material_id: Uuid,
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serialises")
}

fn parse_list(text: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn meta_of(m: &material::Model) -> Result<MaterialMeta> {
    Ok(MaterialMeta {
        external_id: m.external_id.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        subject: m.subject.clone(),
        grade: m.grade.and_then(|g| u8::try_from(g).ok()),
        series: m.series.clone(),
        resource_type: m.resource_type.clone(),
        chapter: m.chapter.clone(),
        lesson: m.lesson.clone(),
        keywords: parse_list(&m.keywords, "keywords")?,
        authors: parse_list(&m.authors, "authors")?,
        organization: m.organization.clone(),
        province: m.province.clone(),
        license: m.license.clone(),
        language: m.language.clone(),
        url: m.url.clone(),
    })
}

/// The row of a new material (`created` is `None`), or the metadata columns of an update.
fn active_model(
    id: Uuid,
    item: &MaterialWrite,
    now: chrono::DateTime<Utc>,
    created: Option<chrono::DateTime<Utc>>,
) -> material::ActiveModel {
    let new = created.is_none();
    let only_new = |v| if new { Set(v) } else { sea_orm::ActiveValue::NotSet };
    material::ActiveModel {
        external_id: Set(item.meta.external_id.clone()),
        status: only_new(item.status.as_str().to_owned()),
        author_id: if new { Set(item.author) } else { sea_orm::ActiveValue::NotSet },
        author_key_id: if new { Set(item.author_key) } else { sea_orm::ActiveValue::NotSet },
        status_reason: if new { Set(None) } else { sea_orm::ActiveValue::NotSet },
        version: if new { Set(1) } else { sea_orm::ActiveValue::NotSet },
        downloads: match created {
            Some(_) => sea_orm::ActiveValue::NotSet,
            None => Set(0),
        },
        created_at: match created {
            Some(_) => sea_orm::ActiveValue::NotSet,
            None => Set(now),
        },
        ..meta_columns(id, &item.meta, now)
    }
}

/// The columns of a material that its metadata sets (all but the external id, which never
/// changes once given), and `updated_at`; every other column is left as it is.
pub(crate) fn meta_columns(id: Uuid, meta: &MaterialMeta, now: chrono::DateTime<Utc>) -> material::ActiveModel {
    material::ActiveModel {
        id: Set(id),
        title: Set(meta.title.clone()),
        description: Set(meta.description.clone()),
        subject: Set(meta.subject.clone()),
        grade: Set(meta.grade.map(i16::from)),
        series: Set(meta.series.clone()),
        resource_type: Set(meta.resource_type.clone()),
        chapter: Set(meta.chapter.clone()),
        lesson: Set(meta.lesson.clone()),
        keywords: Set(json_list(&meta.keywords)),
        authors: Set(json_list(&meta.authors)),
        organization: Set(meta.organization.clone()),
        province: Set(meta.province.clone()),
        license: Set(meta.license.clone()),
        language: Set(meta.language.clone()),
        url: Set(meta.url.clone()),
        updated_at: Set(now),
        ..Default::default()
    }
}

fn file_rows(material_id: Uuid, files: &[NewFile], now: chrono::DateTime<Utc>) -> Vec<material_file::ActiveModel> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| material_file::ActiveModel {
            id: Set(Uuid::now_v7()),
            material_id: Set(material_id),
            position: Set(i as i32),
            name: Set(f.name.clone()),
            media_type: Set(f.media_type.clone()),
            sha256: Set(f.sha256.clone()),
            created_at: Set(now),
        })
        .collect()
}

/// Records the blobs of newly stored files: identical bytes are stored once. Inserts what is
/// new, then reads back which object each hash points at; returns our objects that lost (to be
/// deleted once the transaction commits). New blobs get a derivation job.
pub(crate) async fn register_blobs<'a>(
    txn: &DatabaseTransaction,
    files: impl IntoIterator<Item = &'a NewFile>,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<String>> {
    let files: Vec<&NewFile> = files.into_iter().collect();
    let mut redundant = Vec::new();
    let mut blobs: HashMap<&str, &NewFile> = HashMap::new();
    for f in &files {
        blobs.entry(f.sha256.as_str()).or_insert(f);
    }
    let hashes: Vec<&str> = blobs.keys().copied().collect();
    for chunk in hashes.chunks(CHUNK) {
        let rows = chunk.iter().map(|h| {
            let f = blobs[h];
            blob::ActiveModel {
                sha256: Set(f.sha256.clone()),
                size: Set(f.size as i64),
                object_key: Set(f.object_key.clone()),
                created_at: Set(now),
            }
        });
        blob::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(blob::Column::Sha256).do_nothing().to_owned())
            .try_insert()
            .exec_without_returning(txn)
            .await?;
    }
    let mut stored_keys: HashMap<String, String> = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        for b in blob::Entity::find().filter(blob::Column::Sha256.is_in(chunk.iter().copied())).all(txn).await? {
            stored_keys.insert(b.sha256, b.object_key);
        }
    }
    for f in &files {
        if stored_keys.get(&f.sha256) != Some(&f.object_key) && !redundant.contains(&f.object_key) {
            redundant.push(f.object_key.clone());
        }
    }
    let to_derive: Vec<(String, PreviewKind)> =
        blobs.values().map(|f| (f.sha256.clone(), PreviewKind::of(&f.media_type, &f.name))).collect();
    queue_derivations(txn, &to_derive, now).await?;
    Ok(redundant)
}

/// Replaces a material's files.
pub(crate) async fn replace_files(
    txn: &DatabaseTransaction,
    material_id: Uuid,
    files: &[NewFile],
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    material_file::Entity::delete_many().filter(material_file::Column::MaterialId.eq(material_id)).exec(txn).await?;
    if !files.is_empty() {
        material_file::Entity::insert_many(file_rows(material_id, files, now)).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// What makes two file lists "the same" for an idempotent re-import.
#[derive(Debug, PartialEq, Eq)]
struct FileSig {
    name: String,
    media_type: String,
    sha256: String,
}

impl FileSig {
    fn of(f: &material_file::Model) -> Self {
        FileSig { name: f.name.clone(), media_type: f.media_type.clone(), sha256: f.sha256.clone() }
    }
    fn of_new(f: &NewFile) -> Self {
        FileSig { name: f.name.clone(), media_type: f.media_type.clone(), sha256: f.sha256.clone() }
    }
}

/// A stored material named by an external id in the batch.
struct Existing {
    id: Uuid,
    created_at: chrono::DateTime<Utc>,
    meta: MaterialMeta,
    files: Vec<FileSig>,
}

/// A material of the batch waiting to be inserted.
struct Pending {
    model: material::ActiveModel,
    id: Uuid,
    files: Vec<material_file::ActiveModel>,
}

/// Records `material` as the one made from `upload`, unless the upload already made one.
async fn claim_upload(txn: &DatabaseTransaction, upload: Uuid, material_id: Uuid) -> Result<()> {
    use crate::entity::upload;
    let claimed = upload::Entity::update_many()
        .col_expr(upload::Column::MaterialId, sea_orm::sea_query::Expr::value(material_id))
        .col_expr(upload::Column::Error, sea_orm::sea_query::Expr::value(Option::<String>::None))
        .filter(upload::Column::Id.eq(upload))
        .filter(upload::Column::MaterialId.is_null())
        .exec(txn)
        .await?
        .rows_affected;
    if claimed == 1 {
        Ok(())
    } else {
        Err(Error::Conflict(format!("upload {upload} has already made a material (or is gone)")))
    }
}

impl Db {
    /// Creates or updates a batch of materials in one transaction, recording each change in the
    /// change sequence. Files must already be durable in object storage.
    pub async fn write_materials(&self, items: Vec<MaterialWrite>, on_existing: OnExisting) -> Result<Written> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;

        let redundant_objects = register_blobs(&txn, items.iter().flat_map(|i| &i.files), now).await?;
        let mut written = Written { redundant_objects, ..Default::default() };

        // Existing materials named by external id, with their files.
        let external_ids: Vec<&str> = items.iter().filter_map(|i| i.meta.external_id.as_deref()).collect();
        let mut existing: HashMap<String, Existing> = HashMap::new();
        for chunk in external_ids.chunks(CHUNK) {
            let found = material::Entity::find()
                .filter(material::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?;
            let ids: Vec<Uuid> = found.iter().map(|m| m.id).collect();
            let mut files = files_of(&txn, &ids).await?;
            for m in found {
                let files = files.remove(&m.id).unwrap_or_default().into_iter().map(|f| FileSig::of(&f)).collect();
                let meta = meta_of(&m)?;
                existing.insert(
                    m.external_id.clone().unwrap_or_default(),
                    Existing { id: m.id, created_at: m.created_at, meta, files },
                );
            }
        }

        let mut pending: Vec<Pending> = Vec::new();
        let mut pending_by_eid: HashMap<String, usize> = HashMap::new();
        let mut changed: Vec<Uuid> = Vec::new();
        for item in &items {
            let eid = item.meta.external_id.clone();
            // A later line of the same batch with the same id replaces the pending insert.
            if let Some(&slot) = eid.as_ref().and_then(|e| pending_by_eid.get(e)) {
                let id = pending[slot].id;
                pending[slot].model = active_model(id, item, now, None);
                pending[slot].files = file_rows(id, &item.files, now);
                written.outcomes.push(Outcome::Created(id));
                continue;
            }
            let new_files: Vec<FileSig> = item.files.iter().map(FileSig::of_new).collect();
            match eid.as_ref().and_then(|e| existing.get_mut(e)) {
                Some(old) if on_existing == OnExisting::Conflict => {
                    return Err(Error::Conflict(format!(
                        "a material with id {:?} already exists ({})",
                        eid.as_deref().unwrap_or_default(),
                        old.id
                    )));
                }
                Some(old) => {
                    let id = old.id;
                    let files_same = old.files == new_files;
                    if files_same && old.meta == item.meta {
                        written.outcomes.push(Outcome::Unchanged(id));
                        continue;
                    }
                    material::Entity::update(active_model(id, item, now, Some(old.created_at))).exec(&txn).await?;
                    if !files_same {
                        replace_files(&txn, id, &item.files, now).await?;
                    }
                    // Keep the map current for a later line with the same id.
                    old.meta = item.meta.clone();
                    old.files = new_files;
                    changed.push(id);
                    written.outcomes.push(Outcome::Updated(id));
                }
                None => {
                    let id = Uuid::now_v7();
                    if let Some(upload) = item.from_upload {
                        claim_upload(&txn, upload, id).await?;
                    }
                    // Distinct creation times keep "newest first" stable within a batch.
                    let created = now + chrono::Duration::microseconds(pending.len() as i64);
                    if let Some(e) = &eid {
                        pending_by_eid.insert(e.clone(), pending.len());
                    }
                    pending.push(Pending {
                        model: active_model(id, item, created, None),
                        id,
                        files: file_rows(id, &item.files, now),
                    });
                    written.outcomes.push(Outcome::Created(id));
                }
            }
        }

        changed.extend(pending.iter().map(|p| p.id));
        let (models, files): (Vec<_>, Vec<_>) = pending.into_iter().map(|p| (p.model, p.files)).unzip();
        let mut models = models.into_iter().peekable();
        while models.peek().is_some() {
            material::Entity::insert_many(models.by_ref().take(CHUNK)).exec_without_returning(&txn).await?;
        }
        let mut files = files.into_iter().flatten().peekable();
        while files.peek().is_some() {
            material_file::Entity::insert_many(files.by_ref().take(CHUNK)).exec_without_returning(&txn).await?;
        }
        append_changes_for(&txn, &changed, now).await?;
        txn.commit().await?;
        Ok(written)
    }

    /// The object key of the blob with this SHA-256, if those bytes are already stored.
    pub async fn blob_key(&self, sha256: &str) -> Result<Option<String>> {
        Ok(blob::Entity::find_by_id(sha256.to_owned()).one(&self.conn).await?.map(|b| b.object_key))
    }

    /// One material with its files.
    pub async fn material(&self, id: Uuid) -> Result<Option<Material>> {
        Ok(self.materials(&[id]).await?.pop())
    }

    /// A material by its external id.
    pub async fn material_by_external_id(&self, external_id: &str) -> Result<Option<Material>> {
        let found =
            material::Entity::find().filter(material::Column::ExternalId.eq(external_id)).one(&self.conn).await?;
        match found {
            Some(m) => self.material(m.id).await,
            None => Ok(None),
        }
    }

    /// The materials among `ids` that exist, with their files, in no particular order.
    pub async fn materials(&self, ids: &[Uuid]) -> Result<Vec<Material>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let models = material::Entity::find()
                .filter(material::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.conn)
                .await?;
            let found: Vec<Uuid> = models.iter().map(|m| m.id).collect();
            let mut files = files_of(&self.conn, &found).await?;
            let blobs = blobs_of(&self.conn, files.values().flatten()).await?;
            let hashes: Vec<String> = blobs.keys().cloned().collect();
            let derived = states_of(&self.conn, &hashes).await?;
            for m in models {
                let f = files.remove(&m.id).unwrap_or_default();
                out.push(to_material(m, f, &blobs, &derived)?);
            }
        }
        Ok(out)
    }

    /// Up to `limit` material ids after `after`, in id order (ids are time-ordered UUIDv7).
    pub async fn material_ids_page(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
        let mut q =
            material::Entity::find().select_only().column(material::Column::Id).order_by_asc(material::Column::Id);
        if let Some(a) = after {
            q = q.filter(material::Column::Id.gt(a));
        }
        Ok(q.limit(limit).into_tuple::<Uuid>().all(&self.conn).await?)
    }

    /// A file of a material (with its object key), if both exist.
    pub async fn file(&self, material_id: Uuid, file_id: Uuid) -> Result<Option<StoredFile>> {
        let Some(f) = material_file::Entity::find_by_id(file_id)
            .filter(material_file::Column::MaterialId.eq(material_id))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let blobs = blobs_of(&self.conn, [&f]).await?;
        let derived = states_of(&self.conn, std::slice::from_ref(&f.sha256)).await?;
        stored_file(f, &blobs, &derived).map(Some)
    }

    /// Adds download counts. When a material's count crosses a power of two its search
    /// document is refreshed (through the change sequence), so the index's popularity prior
    /// follows at the cost of a handful of reindexings per material over its life.
    pub async fn add_downloads(&self, counts: &[(Uuid, u64)]) -> Result<()> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let ids: Vec<Uuid> = counts.iter().map(|c| c.0).collect();
        let mut before: HashMap<Uuid, i64> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(Uuid, i64)> = material::Entity::find()
                .select_only()
                .column(material::Column::Id)
                .column(material::Column::Downloads)
                .filter(material::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            before.extend(rows);
        }
        let mut refresh = Vec::new();
        for &(id, n) in counts {
            let Some(old) = before.get_mut(&id) else { continue };
            material::Entity::update_many()
                .col_expr(material::Column::Downloads, Expr::col(material::Column::Downloads).add(n as i64))
                .filter(material::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            let new = *old + n as i64;
            if (*old as u64).checked_ilog2() != (new as u64).checked_ilog2() && !refresh.contains(&id) {
                refresh.push(id);
            }
            *old = new;
        }
        append_changes_for(&txn, &refresh, Utc::now()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a material (its files' blobs stay until a garbage collection finds them unused).
    /// Returns whether it existed.
    pub async fn delete_material(&self, id: Uuid) -> Result<bool> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        material_file::Entity::delete_many().filter(material_file::Column::MaterialId.eq(id)).exec(&txn).await?;
        let deleted = material::Entity::delete_by_id(id).exec(&txn).await?.rows_affected > 0;
        if deleted {
            append_changes_for(&txn, &[id], Utc::now()).await?;
        }
        txn.commit().await?;
        Ok(deleted)
    }

    pub async fn count_materials(&self) -> Result<u64> {
        Ok(material::Entity::find().count(&self.conn).await?)
    }

    /// Changes after `seq`, oldest first, at most `limit`.
    pub async fn changes_after(&self, seq: i64, limit: u64) -> Result<Vec<Change>> {
        let rows = change::Entity::find()
            .filter(change::Column::Seq.gt(seq))
            .order_by_asc(change::Column::Seq)
            .limit(limit)
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|c| Change { seq: c.seq, material_id: c.material_id }).collect())
    }

    /// The newest sequence number (0 when nothing ever changed).
    pub async fn last_seq(&self) -> Result<i64> {
        let last = change::Entity::find()
            .select_only()
            .column(change::Column::Seq)
            .order_by_desc(change::Column::Seq)
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.conn)
            .await?;
        Ok(last.unwrap_or(0))
    }
}

pub(crate) async fn append_changes_for(
    txn: &impl ConnectionTrait,
    ids: &[Uuid],
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let rows = chunk.iter().map(|&id| change::ActiveModel {
            seq: sea_orm::ActiveValue::NotSet,
            material_id: Set(id),
            created_at: Set(now),
        });
        change::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

async fn files_of(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<material_file::Model>>> {
    let mut out: HashMap<Uuid, Vec<material_file::Model>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows = material_file::Entity::find()
            .filter(material_file::Column::MaterialId.is_in(chunk.iter().copied()))
            .order_by_asc(material_file::Column::Position)
            .all(conn)
            .await?;
        for f in rows {
            out.entry(f.material_id).or_default().push(f);
        }
    }
    Ok(out)
}

async fn blobs_of<'a>(
    conn: &impl ConnectionTrait,
    files: impl IntoIterator<Item = &'a material_file::Model>,
) -> Result<HashMap<String, blob::Model>> {
    let mut hashes: Vec<String> = files.into_iter().map(|f| f.sha256.clone()).collect();
    hashes.sort();
    hashes.dedup();
    let mut out = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        for b in blob::Entity::find().filter(blob::Column::Sha256.is_in(chunk.iter().cloned())).all(conn).await? {
            out.insert(b.sha256.clone(), b);
        }
    }
    Ok(out)
}

fn stored_file(
    f: material_file::Model,
    blobs: &HashMap<String, blob::Model>,
    derived: &HashMap<String, hoclieu_domain::preview::PreviewState>,
) -> Result<StoredFile> {
    let b = blobs.get(&f.sha256).ok_or_else(|| Error::Corrupt(format!("file {} has no blob {}", f.id, f.sha256)))?;
    Ok(StoredFile {
        id: f.id,
        name: f.name,
        size: b.size as u64,
        media_type: f.media_type,
        object_key: b.object_key.clone(),
        preview: derived.get(&f.sha256).cloned(),
        sha256: f.sha256,
    })
}

fn to_material(
    m: material::Model,
    files: Vec<material_file::Model>,
    blobs: &HashMap<String, blob::Model>,
    derived: &HashMap<String, hoclieu_domain::preview::PreviewState>,
) -> Result<Material> {
    let meta = meta_of(&m)?;
    let status = Status::parse(&m.status)
        .ok_or_else(|| Error::Corrupt(format!("material {} has status {:?}", m.id, m.status)))?;
    Ok(Material {
        id: m.id,
        meta,
        status,
        status_reason: m.status_reason.clone(),
        author: m.author_id,
        author_key: m.author_key_id,
        version: u32::try_from(m.version).unwrap_or(1),
        downloads: u64::try_from(m.downloads).unwrap_or(0),
        created_at: m.created_at,
        updated_at: m.updated_at,
        files: files.into_iter().map(|f| stored_file(f, blobs, derived)).collect::<Result<_>>()?,
    })
}

/// A stored blob, for consistency checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub sha256: String,
    pub size: u64,
    pub object_key: String,
    pub created_at: chrono::DateTime<Utc>,
    /// Whether any file of any material uses it.
    pub used: bool,
}

impl Db {
    pub async fn count_blobs(&self) -> Result<u64> {
        Ok(blob::Entity::find().count(&self.conn).await?)
    }

    /// Up to `limit` blobs after `after` (by SHA-256), with whether files use them.
    pub async fn blobs_page(&self, after: Option<&str>, limit: u64) -> Result<Vec<BlobInfo>> {
        let mut q = blob::Entity::find().order_by_asc(blob::Column::Sha256).limit(limit);
        if let Some(a) = after {
            q = q.filter(blob::Column::Sha256.gt(a));
        }
        let rows = q.all(&self.conn).await?;
        let hashes: Vec<String> = rows.iter().map(|b| b.sha256.clone()).collect();
        let mut used = std::collections::HashSet::new();
        for chunk in hashes.chunks(CHUNK) {
            let found: Vec<String> = material_file::Entity::find()
                .select_only()
                .column(material_file::Column::Sha256)
                .filter(material_file::Column::Sha256.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            used.extend(found);
            let kept: Vec<String> = version_file::Entity::find()
                .select_only()
                .column(version_file::Column::Sha256)
                .filter(version_file::Column::Sha256.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            used.extend(kept);
        }
        Ok(rows
            .into_iter()
            .map(|b| BlobInfo {
                used: used.contains(&b.sha256),
                sha256: b.sha256,
                size: b.size as u64,
                object_key: b.object_key,
                created_at: b.created_at,
            })
            .collect())
    }

    /// The object keys among `keys` that a blob points at (committed bytes).
    pub async fn objects_in_use(&self, keys: &[String]) -> Result<std::collections::HashSet<String>> {
        let mut used = std::collections::HashSet::new();
        for chunk in keys.chunks(CHUNK) {
            let found: Vec<String> = blob::Entity::find()
                .select_only()
                .column(blob::Column::ObjectKey)
                .filter(blob::Column::ObjectKey.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            used.extend(found);
        }
        Ok(used)
    }

    /// Forgets a blob no file uses; returns whether it did (a file may have started using it).
    pub async fn delete_unused_blob(&self, sha256: &str) -> Result<bool> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let in_use = material_file::Entity::find().filter(material_file::Column::Sha256.eq(sha256)).count(&txn).await?
            > 0
            || version_file::Entity::find().filter(version_file::Column::Sha256.eq(sha256)).count(&txn).await? > 0;
        if in_use {
            return Ok(false);
        }
        let deleted = blob::Entity::delete_by_id(sha256.to_owned()).exec(&txn).await?.rows_affected > 0;
        crate::derivations::forget(&txn, sha256).await?;
        txn.commit().await?;
        Ok(deleted)
    }
}
