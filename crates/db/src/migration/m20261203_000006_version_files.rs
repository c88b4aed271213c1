use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The files of each version. A file keeps its id across the versions that carry it;
        // bytes never change (blobs are addressed by their SHA-256).
        manager
            .create_table(
                Table::create()
                    .table("version_files")
                    .col(uuid("version_id"))
                    .col(uuid("file_id"))
                    .col(integer("position"))
                    .col(text("name"))
                    .col(string("media_type"))
                    .col(string("sha256"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("version_id").col("file_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("version_files", "version_id")
                            .to("material_versions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("version_files_sha256").table("version_files").col("sha256").to_owned())
            .await?;
        // Whether a proposal brings files of its own; one that does not takes the material's
        // files as they are when it is approved.
        manager
            .alter_table(
                Table::alter()
                    .table("material_versions")
                    .add_column(boolean("files_changed").default(false))
                    .to_owned(),
            )
            .await?;
        // Versions recorded before files were versioned carried the material's files.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO version_files (version_id, file_id, position, name, media_type, sha256, created_at) \
                 SELECT v.id, f.id, f.position, f.name, f.media_type, f.sha256, f.created_at \
                 FROM material_versions v JOIN material_files f ON f.material_id = v.material_id",
            )
            .await?;
        Ok(())
    }
}
