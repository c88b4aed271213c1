use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(uuid("id").primary_key())
                    .col(string("username").unique_key())
                    .col(string_null("email").unique_key())
                    .col(text("display_name"))
                    .col(text_null("organization"))
                    .col(string_null("province"))
                    .col(string("role"))
                    .col(text("review_subjects"))
                    .col(text("review_provinces"))
                    .col(text("password_hash"))
                    .col(integer("failed_logins").default(0))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(string("token_hash").primary_key())
                    .col(uuid("user_id"))
                    .col(string("csrf"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("sessions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(Index::create().name("sessions_user").table("sessions").col("user_id").to_owned()).await?;
        // Append-only: rows are inserted, never updated or deleted by the application.
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_integer("id").auto_increment().primary_key())
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor_kind"))
                    .col(uuid_null("actor_id"))
                    .col(text_null("actor_name"))
                    .col(string("action"))
                    .col(string("target_kind"))
                    .col(text_null("target_id"))
                    .col(text("details"))
                    .col(string_null("ip"))
                    .to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table("materials").add_column(uuid_null("author_id")).to_owned()).await?;
        manager.alter_table(Table::alter().table("api_keys").add_column(text_null("organization")).to_owned()).await?;
        manager
            .alter_table(Table::alter().table("materials").add_column(text_null("status_reason")).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table("materials").add_column(integer("version").default(1)).to_owned())
            .await?;
        manager
            .create_index(Index::create().name("materials_status").table("materials").col("status").to_owned())
            .await?;
        // Edits of published materials: proposed versions under review, and earlier versions
        // kept when a newer one is approved.
        manager
            .create_table(
                Table::create()
                    .table("material_versions")
                    .col(uuid("id").primary_key())
                    .col(uuid("material_id"))
                    .col(integer("number"))
                    .col(string("status"))
                    .col(text("meta"))
                    .col(text_null("reason"))
                    .col(uuid_null("author_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("material_versions", "material_id")
                            .to("materials", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("material_versions_number")
                    .table("material_versions")
                    .col("material_id")
                    .col("number")
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
