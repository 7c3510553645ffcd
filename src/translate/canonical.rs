//! Canonical JSON (object keys sorted at every level, compact) written straight from any
//! `Serialize` value into a byte buffer, for the desired-payload hash.
//!
//! It produces exactly the bytes of [`super::tags::canonical_json`] applied to
//! `serde_json::to_value(value)` (minus the skipped top-level keys), without building the
//! intermediate `Value` trees and `String`s: translation hashes every entity it emits (about
//! 14k for a 10k-object snapshot), and those allocations were most of its time. Whatever this
//! serializer does not reproduce exactly (a map key `to_value` would write differently, an
//! integer out of `i64`/`u64` range) is an error, and the caller then takes the slow path, so
//! the hash never depends on which path computed it.

use std::fmt::Display;
use std::ops::Range;

use serde::ser::{self, Serialize};

/// Why a value has no canonical form here (the caller falls back to `serde_json::Value`).
#[derive(Debug)]
pub(crate) struct Unsupported(String);

impl Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

fn unsupported(what: &str) -> Unsupported {
    Unsupported(format!("{what} has no canonical form here"))
}

/// Writes canonical JSON, reusing its buffers from one value to the next so that a run of
/// values allocates only while the buffers grow.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// Where an object's region is copied while [`Object::close`] rewrites it in key order.
    tmp: Vec<u8>,
    /// The members of the objects in progress, innermost last.
    entries: Vec<Entry>,
}

impl Writer {
    /// The canonical JSON of `value`, leaving out the top-level object keys in `skip`.
    pub(crate) fn write<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        skip: &'static [&'static str],
    ) -> Result<&[u8], Unsupported> {
        self.buf.clear();
        self.entries.clear();
        value.serialize(Canon { w: self, skip })?;
        Ok(&self.buf)
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn write_str(buf: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail and a str always serializes.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// A finite float as serde_json prints it; `to_value` turns a non-finite one into `null`.
fn write_f64(buf: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *buf, &v);
    } else {
        buf.extend_from_slice(b"null");
    }
}

fn write_int<I: Serialize>(buf: &mut Vec<u8>, v: I) {
    let _ = serde_json::to_writer(&mut *buf, &v);
}

/// The value serializer.
struct Canon<'b> {
    w: &'b mut Writer,
    /// Keys left out of the object at this level (only ever non-empty at the top).
    skip: &'static [&'static str],
}

impl<'b> Canon<'b> {
    fn object(self, variant: Option<&'static str>) -> Result<Object<'b>, Unsupported> {
        if variant.is_some() && !self.skip.is_empty() {
            // `to_value` would drop skipped keys from the outer one-key object: not worth
            // reproducing for a shape no entity has.
            return Err(unsupported("an enum with skipped keys"));
        }
        let buf = &mut self.w.buf;
        if let Some(v) = variant {
            buf.push(b'{');
            write_str(buf, v);
            buf.push(b':');
        }
        let start = buf.len();
        let first_entry = self.w.entries.len();
        Ok(Object {
            w: self.w,
            skip: self.skip,
            start,
            first_entry,
            key: None,
            close_variant: variant.is_some(),
        })
    }

    fn array(self, variant: Option<&'static str>) -> Result<Array<'b>, Unsupported> {
        if variant.is_some() && !self.skip.is_empty() {
            return Err(unsupported("an enum with skipped keys"));
        }
        let buf = &mut self.w.buf;
        if let Some(v) = variant {
            buf.push(b'{');
            write_str(buf, v);
            buf.push(b':');
        }
        buf.push(b'[');
        Ok(Array {
            w: self.w,
            first: true,
            close_variant: variant.is_some(),
        })
    }
}

impl<'b> ser::Serializer for Canon<'b> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'b>;
    type SerializeTuple = Array<'b>;
    type SerializeTupleStruct = Array<'b>;
    type SerializeTupleVariant = Array<'b>;
    type SerializeMap = Object<'b>;
    type SerializeStruct = Object<'b>;
    type SerializeStructVariant = Object<'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.w
            .buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Unsupported> {
        // `to_value` accepts only what fits a u64 or an i64.
        if let Ok(v) = u64::try_from(v) {
            write_int(&mut self.w.buf, v);
        } else if let Ok(v) = i64::try_from(v) {
            write_int(&mut self.w.buf, v);
        } else {
            return Err(unsupported("an i128 out of the i64/u64 range"));
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        write_int(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Unsupported> {
        match u64::try_from(v) {
            Ok(v) => {
                write_int(&mut self.w.buf, v);
                Ok(())
            }
            Err(_) => Err(unsupported("a u128 out of the u64 range")),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        // `to_value` widens an f32 to f64 before printing it.
        write_f64(&mut self.w.buf, f64::from(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        write_f64(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        write_str(&mut self.w.buf, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        write_str(&mut self.w.buf, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        // `to_value` makes bytes an array of numbers.
        self.w.buf.push(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.w.buf.push(b',');
            }
            write_int(&mut self.w.buf, *b);
        }
        self.w.buf.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.w.buf.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        if !self.skip.is_empty() {
            return Err(unsupported("an enum with skipped keys"));
        }
        // A one-key object is sorted already.
        self.w.buf.push(b'{');
        write_str(&mut self.w.buf, variant);
        self.w.buf.push(b':');
        value.serialize(Canon {
            w: &mut *self.w,
            skip: &[],
        })?;
        self.w.buf.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'b>, Unsupported> {
        self.array(None)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Array<'b>, Unsupported> {
        self.array(None)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Array<'b>, Unsupported> {
        self.array(None)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'b>, Unsupported> {
        self.array(Some(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'b>, Unsupported> {
        self.object(None)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'b>, Unsupported> {
        self.object(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'b>, Unsupported> {
        self.object(Some(variant))
    }
}

/// An array in progress: elements are written in place, in order.
struct Array<'b> {
    w: &'b mut Writer,
    first: bool,
    close_variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        if !self.first {
            self.w.buf.push(b',');
        }
        self.first = false;
        value.serialize(Canon {
            w: &mut *self.w,
            skip: &[],
        })
    }

    fn close(self) -> Result<(), Unsupported> {
        self.w.buf.push(b']');
        if self.close_variant {
            self.w.buf.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

/// One member of an object in progress: the raw (unescaped) key and the canonical value, as
/// ranges of the buffer past the object's start.
struct Entry {
    key: Range<usize>,
    value: Range<usize>,
}

/// An object in progress. Keys (raw) and values (canonical) are appended to the buffer as they
/// come; `end` sorts the members by key and rewrites the region as `{"k":v,...}`.
struct Object<'b> {
    w: &'b mut Writer,
    skip: &'static [&'static str],
    /// Where the object's region of the buffer starts.
    start: usize,
    /// Where the object's members start in the writer's entry stack.
    first_entry: usize,
    /// The key of the member whose value comes next (map form), or `None` when skipped.
    key: Option<Option<Range<usize>>>,
    close_variant: bool,
}

impl Object<'_> {
    /// Records `key` raw; `None` when the key is one to leave out.
    fn push_key(&mut self, key: &str) -> Option<Range<usize>> {
        if self.skip.contains(&key) {
            return None;
        }
        let from = self.w.buf.len() - self.start;
        self.w.buf.extend_from_slice(key.as_bytes());
        Some(from..self.w.buf.len() - self.start)
    }

    fn push_value<T: Serialize + ?Sized>(
        &mut self,
        key: Option<Range<usize>>,
        value: &T,
    ) -> Result<(), Unsupported> {
        let Some(key) = key else { return Ok(()) };
        let from = self.w.buf.len() - self.start;
        value.serialize(Canon {
            w: &mut *self.w,
            skip: &[],
        })?;
        let value = from..self.w.buf.len() - self.start;
        self.w.entries.push(Entry { key, value });
        Ok(())
    }

    fn close(self) -> Result<(), Unsupported> {
        let Writer { buf, tmp, entries } = &mut *self.w;
        tmp.clear();
        tmp.extend_from_slice(&buf[self.start..]);
        buf.truncate(self.start);
        let members = &mut entries[self.first_entry..];
        // Stable: among equal keys the last one written is the one `to_value` keeps.
        members.sort_by(|a, b| tmp[a.key.clone()].cmp(&tmp[b.key.clone()]));
        buf.push(b'{');
        let mut first = true;
        for (i, e) in members.iter().enumerate() {
            let key = &tmp[e.key.clone()];
            if members
                .get(i + 1)
                .is_some_and(|next| tmp[next.key.clone()] == *key)
            {
                continue;
            }
            if !first {
                buf.push(b',');
            }
            first = false;
            // The key bytes came from a &str, so they are UTF-8.
            write_str(buf, std::str::from_utf8(key).unwrap_or_default());
            buf.push(b':');
            buf.extend_from_slice(&tmp[e.value.clone()]);
        }
        buf.push(b'}');
        if self.close_variant {
            buf.push(b'}');
        }
        entries.truncate(self.first_entry);
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        // The key is written raw where the next member goes, then dropped again if skipped.
        let from = self.w.buf.len();
        key.serialize(KeyText(&mut self.w.buf))?;
        let skipped =
            std::str::from_utf8(&self.w.buf[from..]).is_ok_and(|k| self.skip.contains(&k));
        if skipped {
            self.w.buf.truncate(from);
            self.key = Some(None);
        } else {
            self.key = Some(Some(from - self.start..self.w.buf.len() - self.start));
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let Some(key) = self.key.take() else {
            return Err(unsupported("a map value without a key"));
        };
        self.push_value(key, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let k = self.push_key(key);
        self.push_value(k, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let k = self.push_key(key);
        self.push_value(k, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

/// A map key as raw text: strings and chars as they are, integers in decimal — what
/// serde_json's `to_value` accepts and how it writes them. Anything else is refused (slow path).
struct KeyText<'s>(&'s mut Vec<u8>);

macro_rules! int_key {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), Unsupported> {
            use std::io::Write as _;
            let _ = write!(self.0, "{v}");
            Ok(())
        }
    )*};
}

impl ser::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = ser::Impossible<(), Unsupported>;
    type SerializeStruct = ser::Impossible<(), Unsupported>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    int_key!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.0
            .extend_from_slice(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.0.extend_from_slice(variant.as_bytes());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_bool(self, _v: bool) -> Result<(), Unsupported> {
        Err(unsupported("a bool map key"))
    }
    fn serialize_i128(self, _v: i128) -> Result<(), Unsupported> {
        Err(unsupported("an i128 map key"))
    }
    fn serialize_u128(self, _v: u128) -> Result<(), Unsupported> {
        Err(unsupported("a u128 map key"))
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Unsupported> {
        Err(unsupported("a float map key"))
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Unsupported> {
        Err(unsupported("a float map key"))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Unsupported> {
        Err(unsupported("a bytes map key"))
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        Err(unsupported("a none map key"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Unsupported> {
        Err(unsupported("an option map key"))
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        Err(unsupported("a unit map key"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        Err(unsupported("a unit map key"))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Unsupported> {
        Err(unsupported("an enum map key"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(unsupported("a sequence map key"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(unsupported("a tuple map key"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(unsupported("a tuple map key"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(unsupported("an enum map key"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(unsupported("a map map key"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        Err(unsupported("a struct map key"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(unsupported("an enum map key"))
    }
}
