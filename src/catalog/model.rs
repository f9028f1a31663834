//! The metadata model as people write it in `context/*.yaml`, shaped after dbt's `schema.yml`
//! (a `name`, a `description`, `columns:` under each dataset). Every file may hold any of the
//! top-level sections; unknown keys are errors, so a typo never silently drops knowledge.
//! Names that other entries refer to are [`Spanned`], so a semantic error (an unknown column in
//! a metric) points at its file, line and column.

use marked_yaml::Spanned;
use serde::{Deserialize, Serialize};

/// One YAML file of `context/`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFile {
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub datasets: Vec<DatasetDoc>,
    #[serde(default)]
    pub glossary: Vec<TermDoc>,
    #[serde(default)]
    pub lineage: Vec<LineageDoc>,
    #[serde(default)]
    pub metrics: Vec<MetricDoc>,
    #[serde(default)]
    pub entities: Vec<EntityDoc>,
    #[serde(default)]
    pub joins: Vec<JoinDoc>,
    #[serde(default)]
    pub annotations: Vec<AnnotationDoc>,
    #[serde(default)]
    pub examples: Vec<ExampleDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDoc {
    /// `source.schema.table`.
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owners: Vec<Owner>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// What one row is ("account x month x product").
    #[serde(default)]
    pub grain: Option<String>,
    #[serde(default)]
    pub time_column: Option<Spanned<String>>,
    #[serde(default)]
    pub partitioning: Option<String>,
    #[serde(default)]
    pub freshness: Option<Freshness>,
    /// `false` (unsampled), or `{rate: 0.01}`.
    #[serde(default)]
    pub sampled: Option<Sampling>,
    #[serde(default)]
    pub sensitivity: Option<String>,
    #[serde(default)]
    pub columns: Vec<ColumnDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub role: OwnerRole,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum OwnerRole {
    #[serde(rename = "technical owner")]
    TechnicalOwner,
    #[serde(rename = "steward")]
    Steward,
}

impl OwnerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerRole::TechnicalOwner => "technical owner",
            OwnerRole::Steward => "steward",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// How often new data is expected: "hourly", "daily", "monthly", or a duration ("6h").
    pub expected: String,
    /// How late it may be before it counts as stale ("2h", "1d").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Sampling {
    /// `sampled: false` (or `true`, rate unknown).
    Flag(bool),
    /// `sampled: {rate: 0.01}`.
    Rate { rate: f64 },
}

/// `false`/`true` or `{rate: r}` with 0 < r ≤ 1 (serde's untagged enums cannot see through the
/// YAML loader's all-text scalars, hence a visitor of our own).
impl<'de> Deserialize<'de> for Sampling {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sampling;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("false, true, or {rate: 0.01}")
            }
            fn visit_bool<E: Error>(self, b: bool) -> Result<Sampling, E> {
                Ok(Sampling::Flag(b))
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<Sampling, E> {
                match s {
                    "false" | "no" => Ok(Sampling::Flag(false)),
                    "true" | "yes" => Ok(Sampling::Flag(true)),
                    other => Err(E::custom(format!(
                        "sampled: expected false, true or {{rate: 0.01}}, found '{other}'"
                    ))),
                }
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Sampling, M::Error> {
                let mut rate = None;
                while let Some(k) = m.next_key::<String>()? {
                    if k == "rate" {
                        rate = Some(m.next_value::<f64>()?);
                    } else {
                        return Err(M::Error::unknown_field(&k, &["rate"]));
                    }
                }
                match rate {
                    Some(r) if r > 0.0 && r <= 1.0 => Ok(Sampling::Rate { rate: r }),
                    Some(r) => Err(M::Error::custom(format!(
                        "sampled: rate {r} must be above 0 and at most 1"
                    ))),
                    None => Err(M::Error::missing_field("rate")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Sampling {
    pub fn rate(&self) -> Option<f64> {
        match self {
            Sampling::Flag(false) => None,
            Sampling::Flag(true) => Some(f64::NAN),
            Sampling::Rate { rate } => Some(*rate),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDoc {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// identifier, foreign key, category, amount, count, timestamp, free text, …
    #[serde(default)]
    pub semantic_type: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    #[serde(default)]
    pub classification: Option<Classification>,
    /// Other words people use for this column.
    #[serde(default)]
    pub synonyms: Vec<String>,
}

/// What a column holds that access control must care about, and whether a person agreed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// email, phone, person_name, address, free_text, ip_address, … (absent: not PII).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<String>,
    /// How to show it to someone without access: hash, redact, partial, null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Who set it: a person, a team, or `scanner`.
    pub set_by: String,
    pub review: Review,
    /// Who approved or denied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Review {
    Proposed,
    Approved,
    Denied,
}

impl Classification {
    /// A PII classification that stands: proposed (not yet reviewed) or approved. A denied
    /// proposal means a person decided the column is not PII.
    pub fn is_pii(&self) -> bool {
        self.pii.is_some() && self.review != Review::Denied
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermDoc {
    pub name: Spanned<String>,
    pub definition: String,
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// `source.schema.table.column`.
    #[serde(default)]
    pub columns: Vec<Spanned<String>>,
    #[serde(default)]
    pub metrics: Vec<Spanned<String>>,
}

/// Lineage: `to` is built from `from`, by `transformation`; `columns` are column-level edges.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageDoc {
    pub to: Spanned<String>,
    pub from: Vec<Spanned<String>>,
    #[serde(default)]
    pub transformation: Option<String>,
    #[serde(default)]
    pub columns: Vec<ColumnLineageDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnLineageDoc {
    /// A column of the `to` table.
    pub to: Spanned<String>,
    /// `source.schema.table.column` of the inputs.
    pub from: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDoc {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// An aggregate SQL expression over `table`'s columns, e.g. `sum(amount_cents) / 100.0`.
    pub expression: Spanned<String>,
    pub table: Spanned<String>,
    #[serde(default)]
    pub time_column: Option<Spanned<String>>,
    /// SQL predicates always applied, e.g. `status = 'issued'`.
    #[serde(default)]
    pub filters: Vec<Spanned<String>>,
    /// Columns it may be grouped by (of `table`, or `table.column` of a joinable table).
    #[serde(default)]
    pub dimensions: Vec<Spanned<String>>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// A business entity and the column that identifies it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDoc {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// `source.schema.table.column` of the entity's key.
    pub key: Spanned<String>,
}

/// How two tables join.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDoc {
    pub left: Spanned<String>,
    pub right: Spanned<String>,
    /// Pairs of key columns, `left_column = right_column`.
    pub on: Vec<Spanned<String>>,
    pub cardinality: Cardinality,
    /// The right table translates one id space into another (legacy ids → account ids).
    #[serde(default)]
    pub id_translation: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum Cardinality {
    #[serde(rename = "one-to-one")]
    OneToOne,
    #[serde(rename = "one-to-many")]
    OneToMany,
    #[serde(rename = "many-to-one")]
    ManyToOne,
    #[serde(rename = "many-to-many")]
    ManyToMany,
}

impl Cardinality {
    pub fn as_str(self) -> &'static str {
        match self {
            Cardinality::OneToOne => "one-to-one",
            Cardinality::OneToMany => "one-to-many",
            Cardinality::ManyToOne => "many-to-one",
            Cardinality::ManyToMany => "many-to-many",
        }
    }
}

/// A free-text note on a dataset (`source.schema.table`), a column (`….column`) or a metric
/// (`metric:name`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationDoc {
    pub target: Spanned<String>,
    pub note: String,
    #[serde(default)]
    pub author: Option<String>,
}

/// A question and the SQL a person confirmed answers it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleDoc {
    pub question: String,
    pub sql: Spanned<String>,
    pub verified_by: String,
    #[serde(default)]
    pub verified_on: Option<String>,
}
