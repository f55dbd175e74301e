//! The values of the two column types the SQL dialects spell apart
//! ([`crate::schema::sql_types`]): [`TimestampValue`] and [`JsonValue`], which travel through
//! diesel's own conversions for each backend (PostgreSQL `timestamptz` and `jsonb`; SQLite's
//! text forms of both).
//!
//! They wrap the domain's [`Timestamp`] and serde_json's [`Value`] because diesel lets only
//! a type of this crate be bound as a SQL type of this crate.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types as diesel_types;
use diesel::sqlite::{Sqlite, SqliteValue};
use evo_domain::Timestamp;
use serde_json::Value;

use crate::schema::sql_types;

/// A value of a timestamp column (`.eq(TimestampValue(now))`, a record's field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::UtcTimestamp)]
pub struct TimestampValue(pub Timestamp);

/// A value of a JSON column.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::Json)]
pub struct JsonValue(pub Value);

impl From<Timestamp> for TimestampValue {
    fn from(time: Timestamp) -> Self {
        Self(time)
    }
}

impl From<TimestampValue> for Timestamp {
    fn from(value: TimestampValue) -> Self {
        value.0
    }
}

impl ToSql<sql_types::UtcTimestamp, Pg> for TimestampValue {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Timestamp as ToSql<diesel_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::UtcTimestamp, Pg> for TimestampValue {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <Timestamp as FromSql<diesel_types::Timestamptz, Pg>>::from_sql(value).map(Self)
    }
}

impl ToSql<sql_types::UtcTimestamp, Sqlite> for TimestampValue {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <Timestamp as ToSql<diesel_types::TimestamptzSqlite, Sqlite>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::UtcTimestamp, Sqlite> for TimestampValue {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        <Timestamp as FromSql<diesel_types::TimestamptzSqlite, Sqlite>>::from_sql(value).map(Self)
    }
}

impl ToSql<sql_types::Json, Pg> for JsonValue {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Value as ToSql<diesel_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::Json, Pg> for JsonValue {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <Value as FromSql<diesel_types::Jsonb, Pg>>::from_sql(value).map(Self)
    }
}

impl ToSql<sql_types::Json, Sqlite> for JsonValue {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <Value as ToSql<diesel_types::Json, Sqlite>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::Json, Sqlite> for JsonValue {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        <Value as FromSql<diesel_types::Json, Sqlite>>::from_sql(value).map(Self)
    }
}
