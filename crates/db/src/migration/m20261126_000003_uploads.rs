use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("uploads")
                    .col(uuid("id").primary_key())
                    .col(big_integer("length"))
                    .col(big_integer("offset"))
                    .col(text("parts"))
                    .col(text("metadata_header"))
                    .col(text_null("file_name"))
                    .col(text_null("record"))
                    .col(uuid_null("api_key_id"))
                    .col(uuid_null("material_id"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("uploads_expires").table("uploads").col("expires_at").to_owned())
            .await?;
        Ok(())
    }
}
