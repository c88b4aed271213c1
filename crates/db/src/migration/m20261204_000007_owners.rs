use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The API key that created a material owns it like an author account: it reads its
        // drafts, submits and deletes them. Materials created by keys before this had no owner.
        manager
            .alter_table(Table::alter().table("materials").add_column(uuid_null("author_key_id")).to_owned())
            .await?;
        // How a resumable upload's material enters the workflow, decided when the upload starts,
        // so a server that finishes the upload after a restart makes the same material.
        manager.alter_table(Table::alter().table("uploads").add_column(text_null("origin")).to_owned()).await?;
        // Addresses an account signed in from lately: throttling after failed sign-ins does not
        // hold them up, so nobody can lock an account out by failing on purpose.
        manager
            .alter_table(Table::alter().table("users").add_column(text("known_addresses").default("[]")).to_owned())
            .await?;
        Ok(())
    }
}
