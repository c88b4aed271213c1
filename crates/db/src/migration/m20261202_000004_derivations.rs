use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The job queue: one row per job waiting or running; a finished job is deleted.
        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(big_integer("id").auto_increment().primary_key())
                    .col(string("kind"))
                    .col(string("key"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("run_after"))
                    .col(uuid_null("lease"))
                    .col(timestamp_with_time_zone_null("leased_until"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("jobs_kind_key").table("jobs").col("kind").col("key").unique().to_owned(),
            )
            .await?;
        manager.create_index(Index::create().name("jobs_run_after").table("jobs").col("run_after").to_owned()).await?;
        // What was derived from each blob: status, extracted text, preview description.
        manager
            .create_table(
                Table::create()
                    .table("derivations")
                    .col(string("sha256").primary_key())
                    .col(string("status"))
                    .col(string("kind"))
                    .col(text_null("reason"))
                    .col(text_null("thumbnail"))
                    .col(text_null("text"))
                    .col(text("derived"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
