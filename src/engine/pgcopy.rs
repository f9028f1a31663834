//! Postgres binary COPY → Arrow: the reader behind every query Skipper sends to Postgres whole.
//!
//! `COPY (query) TO STDOUT (FORMAT binary)` streams each row as length-prefixed fields in
//! Postgres's own binary send format (<https://www.postgresql.org/docs/current/sql-copy.html>,
//! "Binary Format"); decoding that straight into Arrow builders avoids the per-value text
//! conversion and the per-row driver objects of a row-by-row reader.
//!
//! Types: the result column's Postgres type and type modifier (from the prepared statement's
//! row description) decide the Arrow type, so numeric(p,s) becomes Decimal128(p,s) with no
//! rounding, `time` becomes Time64, `interval` MonthDayNano. A numeric without a declared scale
//! (an AVG, a division) has no fixed scale in Postgres, so it is carried as its exact digits
//! (Utf8 marked `skipper.type = numeric`) rather than rounded into a scale Postgres never used.
//! Types with no faithful Arrow form (arrays, ranges, network types, …) are refused when the
//! query is planned, with a hint to cast them to text.

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    StringBuilder, Time64NanosecondBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, Schema, SchemaRef, TimeUnit,
};
use datafusion::arrow::record_batch::RecordBatch;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::{Kind, Type};

/// Field metadata key marking a Utf8 column that holds exact numbers (`numeric`), or char(n)
/// values read without their padding (`char(n)`).
pub const TYPE_KEY: &str = "skipper.type";

/// Microseconds between 1970-01-01 and Postgres's epoch 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// How one result column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    /// numeric(p,s) with p ≤ 38.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// numeric without a usable typmod: exact digits as text.
    NumericText,
    /// money: int64 in minor units (two decimals).
    Money,
    Text,
    /// char(n) as Postgres prints it, padded; n when the type has one.
    Bpchar(Option<u16>),
    /// char(n) without its padding: how Postgres compares, concatenates and measures it. The
    /// field is marked `skipper.type = char(n)`, so a bare column prints padded again.
    BpcharTrimmed(Option<u16>),
    /// Single-byte `"char"`.
    Char,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
}

impl PgKind {
    /// The decoding for a Postgres type and its type modifier, or why there is none.
    pub fn of(ty: &Type, typmod: i32) -> Result<PgKind, String> {
        if let Kind::Domain(base) = ty.kind() {
            return PgKind::of(base, -1);
        }
        if let Kind::Enum(_) = ty.kind() {
            return Ok(PgKind::Text);
        }
        Ok(match *ty {
            Type::BOOL => PgKind::Bool,
            Type::INT2 => PgKind::Int2,
            Type::INT4 => PgKind::Int4,
            Type::INT8 => PgKind::Int8,
            Type::OID => PgKind::Oid,
            Type::FLOAT4 => PgKind::Float4,
            Type::FLOAT8 => PgKind::Float8,
            Type::NUMERIC => {
                // typmod = ((precision << 16) | scale) + 4 (VARHDRSZ), -1 when undeclared.
                if typmod >= 4 {
                    let t = typmod - 4;
                    let precision = (t >> 16) & 0xffff;
                    let scale = t & 0xffff;
                    if (1..=38).contains(&precision) && scale <= precision {
                        PgKind::Decimal {
                            precision: precision as u8,
                            scale: scale as i8,
                        }
                    } else {
                        PgKind::NumericText
                    }
                } else {
                    PgKind::NumericText
                }
            }
            Type::MONEY => PgKind::Money,
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::JSON | Type::XML => PgKind::Text,
            // The typmod of char(n) is n + 4 (the varlena header), -1 without a length.
            Type::BPCHAR => PgKind::Bpchar(u16::try_from(typmod - 4).ok().filter(|n| *n > 0)),
            Type::CHAR => PgKind::Char,
            Type::JSONB => PgKind::Jsonb,
            Type::BYTEA => PgKind::Bytea,
            Type::UUID => PgKind::Uuid,
            Type::DATE => PgKind::Date,
            Type::TIME => PgKind::Time,
            Type::TIMESTAMP => PgKind::Timestamp,
            Type::TIMESTAMPTZ => PgKind::Timestamptz,
            Type::INTERVAL => PgKind::Interval,
            _ => return Err(format!("Postgres type {} cannot be read yet", ty.name())),
        })
    }

    pub fn data_type(self) -> DataType {
        match self {
            PgKind::Bool => DataType::Boolean,
            PgKind::Int2 => DataType::Int16,
            PgKind::Int4 => DataType::Int32,
            PgKind::Int8 | PgKind::Oid => DataType::Int64,
            PgKind::Float4 => DataType::Float32,
            PgKind::Float8 => DataType::Float64,
            PgKind::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            PgKind::Money => DataType::Decimal128(38, 2),
            PgKind::Bytea => DataType::Binary,
            PgKind::Date => DataType::Date32,
            // Nanoseconds, as DataFusion types TIME literals, so comparisons need no coercion.
            PgKind::Time => DataType::Time64(TimeUnit::Nanosecond),
            PgKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgKind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgKind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            // The text kinds: text, char(n), "char", jsonb, uuid, numeric without a scale.
            _ => DataType::Utf8,
        }
    }

    /// The decoding for DataFusion to compute with: char(n) loses its padding, as Postgres
    /// drops it whenever it compares, concatenates or measures the value.
    pub fn for_computation(self) -> PgKind {
        match self {
            PgKind::Bpchar(n) => PgKind::BpcharTrimmed(n),
            k => k,
        }
    }

    pub fn field(self, name: &str) -> Field {
        let f = Field::new(name, self.data_type(), true);
        let marked = match self {
            PgKind::NumericText => "numeric".to_string(),
            PgKind::BpcharTrimmed(Some(n)) => format!("char({n})"),
            _ => return f,
        };
        f.with_metadata(HashMap::from([(TYPE_KEY.to_string(), marked)]))
    }
}

/// The Arrow schema of a result whose columns are `(name, kind)`.
pub fn schema(columns: &[(String, PgKind)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|(n, k)| k.field(n)).collect::<Vec<_>>(),
    ))
}

enum Builder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder, i8),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64NanosecondBuilder),
    Ts(TimestampMicrosecondBuilder),
    Iv(IntervalMonthDayNanoBuilder),
}

impl Builder {
    fn new(kind: PgKind, cap: usize) -> Builder {
        match kind {
            PgKind::Bool => Builder::Bool(BooleanBuilder::with_capacity(cap)),
            PgKind::Int2 => Builder::I16(Int16Builder::with_capacity(cap)),
            PgKind::Int4 => Builder::I32(Int32Builder::with_capacity(cap)),
            PgKind::Int8 | PgKind::Oid => Builder::I64(Int64Builder::with_capacity(cap)),
            PgKind::Float4 => Builder::F32(Float32Builder::with_capacity(cap)),
            PgKind::Float8 => Builder::F64(Float64Builder::with_capacity(cap)),
            PgKind::Decimal { .. } | PgKind::Money => {
                let DataType::Decimal128(p, s) = kind.data_type() else {
                    unreachable!("decimal kinds map to Decimal128")
                };
                Builder::Dec(
                    Decimal128Builder::with_capacity(cap)
                        .with_precision_and_scale(p, s)
                        .expect("valid precision and scale"),
                    s,
                )
            }
            PgKind::Bytea => Builder::Bin(BinaryBuilder::with_capacity(cap, cap * 16)),
            PgKind::Date => Builder::Date(Date32Builder::with_capacity(cap)),
            PgKind::Time => Builder::Time(Time64NanosecondBuilder::with_capacity(cap)),
            PgKind::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(cap)),
            PgKind::Timestamptz => {
                Builder::Ts(TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC"))
            }
            PgKind::Interval => Builder::Iv(IntervalMonthDayNanoBuilder::with_capacity(cap)),
            _ => Builder::Str(StringBuilder::with_capacity(cap, cap * 16)),
        }
    }

    fn null(&mut self) {
        match self {
            Builder::Bool(b) => b.append_null(),
            Builder::I16(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Dec(b, _) => b.append_null(),
            Builder::Str(b) => b.append_null(),
            Builder::Bin(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
            Builder::Iv(b) => b.append_null(),
        }
    }

    fn value(&mut self, kind: PgKind, v: &[u8]) -> Result<(), String> {
        match (self, kind) {
            (Builder::Bool(b), _) => b.append_value(fixed::<1>(v)?[0] != 0),
            (Builder::I16(b), _) => b.append_value(i16::from_be_bytes(fixed(v)?)),
            (Builder::I32(b), _) => b.append_value(i32::from_be_bytes(fixed(v)?)),
            (Builder::I64(b), PgKind::Oid) => b.append_value(u32::from_be_bytes(fixed(v)?) as i64),
            (Builder::I64(b), _) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            (Builder::F32(b), _) => b.append_value(f32::from_be_bytes(fixed(v)?)),
            (Builder::F64(b), _) => b.append_value(f64::from_be_bytes(fixed(v)?)),
            (Builder::Dec(b, _), PgKind::Money) => {
                b.append_value(i64::from_be_bytes(fixed(v)?) as i128)
            }
            (Builder::Dec(b, scale), _) => b.append_value(numeric_scaled(v, *scale)?),
            (Builder::Str(b), PgKind::NumericText) => b.append_value(numeric_text(v)?),
            (Builder::Str(b), PgKind::BpcharTrimmed(_)) => {
                b.append_value(utf8(v)?.trim_end_matches(' '))
            }
            (Builder::Str(b), PgKind::Char) => {
                b.append_value(String::from_utf8_lossy(v).trim_end_matches('\0'))
            }
            (Builder::Str(b), PgKind::Jsonb) => match v.split_first() {
                Some((1, rest)) => b.append_value(utf8(rest)?),
                _ => return Err("unknown jsonb version".into()),
            },
            (Builder::Str(b), PgKind::Uuid) => {
                let u: [u8; 16] = fixed(v)?;
                let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
                b.append_value(format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                ))
            }
            (Builder::Str(b), _) => b.append_value(utf8(v)?),
            (Builder::Bin(b), _) => b.append_value(v),
            (Builder::Date(b), _) => {
                let d = i32::from_be_bytes(fixed(v)?);
                if d == i32::MAX || d == i32::MIN {
                    return Err("infinite dates cannot be read".into());
                }
                b.append_value(d + PG_EPOCH_DAYS)
            }
            (Builder::Time(b), _) => b.append_value(i64::from_be_bytes(fixed(v)?) * 1000),
            (Builder::Ts(b), _) => {
                let t = i64::from_be_bytes(fixed(v)?);
                if t == i64::MAX || t == i64::MIN {
                    return Err("infinite timestamps cannot be read".into());
                }
                b.append_value(t + PG_EPOCH_MICROS)
            }
            (Builder::Iv(b), _) => {
                let raw: [u8; 16] = fixed(v)?;
                let micros = i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes"));
                let days = i32::from_be_bytes(raw[8..12].try_into().expect("4 bytes"));
                let months = i32::from_be_bytes(raw[12..16].try_into().expect("4 bytes"));
                b.append_value(IntervalMonthDayNano::new(months, days, micros * 1000))
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Dec(b, _) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bin(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
            Builder::Iv(b) => Arc::new(b.finish()),
        }
    }
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", v.len()))
}

fn utf8(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("invalid UTF-8 from the server: {e}"))
}

/// A binary numeric's parts: base-10000 digits, the weight of the first, sign, display scale.
struct Numeric<'a> {
    digits: &'a [u8],
    ndigits: usize,
    weight: i32,
    negative: bool,
    dscale: usize,
}

fn numeric_parts(v: &[u8]) -> Result<Numeric<'_>, String> {
    if v.len() < 8 {
        return Err("short numeric".into());
    }
    let ndigits = u16::from_be_bytes([v[0], v[1]]) as usize;
    let weight = i16::from_be_bytes([v[2], v[3]]) as i32;
    let sign = u16::from_be_bytes([v[4], v[5]]);
    let dscale = u16::from_be_bytes([v[6], v[7]]) as usize;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN numerics cannot be read as decimals".into()),
        _ => return Err("infinite numerics cannot be read as decimals".into()),
    }
    let digits = &v[8..];
    if digits.len() != ndigits * 2 {
        return Err("malformed numeric".into());
    }
    Ok(Numeric {
        digits,
        ndigits,
        weight,
        negative: sign == 0x4000,
        dscale,
    })
}

impl Numeric<'_> {
    fn digit(&self, i: i32) -> i128 {
        if i < 0 || i as usize >= self.ndigits {
            return 0;
        }
        let i = i as usize;
        i16::from_be_bytes([self.digits[2 * i], self.digits[2 * i + 1]]) as i128
    }
}

/// A binary numeric as an integer scaled by `10^scale`; values that do not fit are an error,
/// digits beyond `scale` (which a numeric(p,s) column never has) are rounded half away from 0.
fn numeric_scaled(v: &[u8], scale: i8) -> Result<i128, String> {
    let n = numeric_parts(v)?;
    let mut acc: i128 = 0;
    let overflow = || "numeric value does not fit in a 38-digit decimal".to_string();
    for i in 0..n.ndigits as i32 {
        acc = acc
            .checked_mul(10_000)
            .and_then(|a| a.checked_add(n.digit(i)))
            .ok_or_else(overflow)?;
    }
    // acc × 10000^(weight − ndigits + 1) × 10^scale
    let exp10 = 4 * (n.weight - n.ndigits as i32 + 1) + scale as i32;
    if exp10 >= 0 {
        for _ in 0..exp10 {
            acc = acc.checked_mul(10).ok_or_else(overflow)?;
        }
    } else {
        let div = 10i128.checked_pow((-exp10) as u32).ok_or_else(overflow)?;
        let (q, r) = (acc / div, acc % div);
        acc = if r * 2 >= div { q + 1 } else { q };
    }
    Ok(if n.negative { -acc } else { acc })
}

/// A binary numeric as Postgres prints it: every digit up to its display scale.
pub(crate) fn numeric_text(v: &[u8]) -> Result<String, String> {
    if v.len() >= 6 && u16::from_be_bytes([v[4], v[5]]) == 0xC000 {
        return Ok("NaN".into());
    }
    if v.len() >= 6 {
        match u16::from_be_bytes([v[4], v[5]]) {
            0xD000 => return Ok("Infinity".into()),
            0xF000 => return Ok("-Infinity".into()),
            _ => {}
        }
    }
    let n = numeric_parts(v)?;
    let mut out = String::new();
    if n.negative {
        out.push('-');
    }
    if n.weight < 0 {
        out.push('0');
    } else {
        for i in 0..=n.weight {
            let d = n.digit(i);
            if i == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if n.dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut i = n.weight + 1;
        while frac.len() < n.dscale {
            frac.push_str(&format!("{:04}", n.digit(i)));
            i += 1;
        }
        frac.truncate(n.dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// Decodes a binary COPY stream into record batches of `batch_rows` rows.
pub struct CopyDecoder {
    kinds: Vec<PgKind>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    batch_rows: usize,
    /// Bytes received but not yet decoded (a row split across messages).
    pending: Vec<u8>,
    header_done: bool,
    finished: bool,
}

impl CopyDecoder {
    pub fn new(kinds: Vec<PgKind>, schema: SchemaRef, batch_rows: usize) -> CopyDecoder {
        let builders = kinds.iter().map(|k| Builder::new(*k, batch_rows)).collect();
        CopyDecoder {
            kinds,
            schema,
            builders,
            rows: 0,
            batch_rows,
            pending: Vec::new(),
            header_done: false,
            finished: false,
        }
    }

    /// Feed one chunk of the stream; full batches are pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<RecordBatch>) -> Result<(), String> {
        if self.pending.is_empty() {
            let used = self.decode(chunk, out)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.pending);
            let used = self.decode(&buf, out)?;
            self.pending = buf[used..].to_vec();
        }
        Ok(())
    }

    /// Decode whole rows from `buf`; returns the bytes used.
    fn decode(&mut self, buf: &[u8], out: &mut Vec<RecordBatch>) -> Result<usize, String> {
        let mut pos = 0;
        if !self.header_done {
            const SIG: &[u8] = b"PGCOPY\n\xff\r\n\0";
            if buf.len() < SIG.len() + 8 {
                return Ok(0);
            }
            if &buf[..SIG.len()] != SIG {
                return Err("not a binary COPY stream".into());
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        'rows: loop {
            if self.finished || buf.len() < pos + 2 {
                break;
            }
            let nfields = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if nfields == -1 {
                self.finished = true;
                pos += 2;
                break;
            }
            if nfields as usize != self.kinds.len() {
                return Err(format!(
                    "row has {nfields} fields, expected {}",
                    self.kinds.len()
                ));
            }
            // Check the whole row is here before appending any of it.
            let mut p = pos + 2;
            for _ in 0..nfields {
                if buf.len() < p + 4 {
                    break 'rows;
                }
                let len = i32::from_be_bytes(buf[p..p + 4].try_into().expect("4 bytes"));
                p += 4;
                if len > 0 {
                    p += len as usize;
                }
            }
            if buf.len() < p {
                break;
            }
            let mut p = pos + 2;
            for (i, kind) in self.kinds.iter().enumerate() {
                let len = i32::from_be_bytes(buf[p..p + 4].try_into().expect("4 bytes"));
                p += 4;
                if len < 0 {
                    self.builders[i].null();
                } else {
                    let v = &buf[p..p + len as usize];
                    p += len as usize;
                    self.builders[i]
                        .value(*kind, v)
                        .map_err(|e| format!("column '{}': {e}", self.schema.field(i).name()))?;
                }
            }
            pos = p;
            self.rows += 1;
            if self.rows == self.batch_rows {
                out.push(self.flush()?);
            }
        }
        Ok(pos)
    }

    fn flush(&mut self) -> Result<RecordBatch, String> {
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        let rows = self.rows;
        self.rows = 0;
        RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| e.to_string())
    }

    /// The last, partial batch once the stream has ended.
    pub fn finish(mut self) -> Result<Option<RecordBatch>, String> {
        if !self.pending.is_empty() {
            return Err("the COPY stream ended in the middle of a row".into());
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[i16], weight: i16, neg: bool, dscale: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(ndigits.len() as u16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in ndigits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_keep_every_digit() {
        // 1234.5600 = digits [1234, 5600], weight 0, dscale 4
        let v = numeric(&[1234, 5600], 0, false, 4);
        assert_eq!(numeric_text(&v).unwrap(), "1234.5600");
        assert_eq!(numeric_scaled(&v, 2).unwrap(), 123456);
        // -0.00012 = digits [1, 2000], weight -1, dscale 5
        let v = numeric(&[1, 2000], -1, true, 5);
        assert_eq!(numeric_text(&v).unwrap(), "-0.00012");
        assert_eq!(numeric_scaled(&v, 5).unwrap(), -12);
        // 0.0000123 → digits [0, 1230]? Postgres strips leading zero groups: weight -2, [1230]
        let v = numeric(&[1230], -2, false, 7);
        assert_eq!(numeric_text(&v).unwrap(), "0.0000123");
        // 10000000 = [1000] weight 1? 10000000 = 1000 * 10000^1 → digits [1000], weight 1
        let v = numeric(&[1000], 1, false, 0);
        assert_eq!(numeric_text(&v).unwrap(), "10000000");
        assert_eq!(numeric_scaled(&v, 2).unwrap(), 1_000_000_000);
        // zero with scale
        let v = numeric(&[], 0, false, 2);
        assert_eq!(numeric_text(&v).unwrap(), "0.00");
        assert_eq!(numeric_scaled(&v, 2).unwrap(), 0);
    }

    #[test]
    fn typmod_decides_the_decimal() {
        assert_eq!(
            PgKind::of(&Type::NUMERIC, ((12 << 16) | 2) + 4).unwrap(),
            PgKind::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(PgKind::of(&Type::NUMERIC, -1).unwrap(), PgKind::NumericText);
        assert!(PgKind::of(&Type::INT4_ARRAY, -1).is_err());
    }

    #[test]
    fn rows_split_across_chunks_decode_once() {
        let kinds = vec![PgKind::Int4, PgKind::Text];
        let schema = schema(&[("a".into(), PgKind::Int4), ("b".into(), PgKind::Text)]);
        let mut stream = b"PGCOPY\n\xff\r\n\0".to_vec();
        stream.extend_from_slice(&0u32.to_be_bytes());
        stream.extend_from_slice(&0u32.to_be_bytes());
        for (a, b) in [(1i32, Some("x")), (2, None), (3, Some("zz"))] {
            stream.extend_from_slice(&2i16.to_be_bytes());
            stream.extend_from_slice(&4i32.to_be_bytes());
            stream.extend_from_slice(&a.to_be_bytes());
            match b {
                Some(s) => {
                    stream.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    stream.extend_from_slice(s.as_bytes());
                }
                None => stream.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let mut d = CopyDecoder::new(kinds, schema, 2);
        let mut out = Vec::new();
        for chunk in stream.chunks(5) {
            d.feed(chunk, &mut out).unwrap();
        }
        let last = d.finish().unwrap().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].num_rows(), 2);
        assert_eq!(last.num_rows(), 1);
        assert_eq!(out[0].column(1).null_count(), 1);
    }
}
