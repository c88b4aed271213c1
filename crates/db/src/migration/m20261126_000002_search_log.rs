use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("search_log")
                    .col(big_pk_auto("id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(text("query"))
                    .col(text("query_key"))
                    .col(text("filters"))
                    .col(big_integer("results"))
                    .col(text_null("corrected"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("search_log_created").table("search_log").col("created_at").to_owned())
            .await?;
        Ok(())
    }
}
