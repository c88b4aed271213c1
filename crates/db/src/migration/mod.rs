//! Schema migrations, one file per migration; the recorded name is the file name.
//! Migrations are never edited once released: add a new file.

use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261126_000002_search_log;
mod m20261126_000003_uploads;
mod m20261202_000004_derivations;
mod m20261203_000005_accounts;
mod m20261203_000006_version_files;
mod m20261204_000007_owners;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261126_000002_search_log::Migration),
            Box::new(m20261126_000003_uploads::Migration),
            Box::new(m20261202_000004_derivations::Migration),
            Box::new(m20261203_000005_accounts::Migration),
            Box::new(m20261203_000006_version_files::Migration),
            Box::new(m20261204_000007_owners::Migration),
        ]
    }
}
