//! Decoding a decrypted field so that a `String` (or a byte buffer that
//! asks for one, such as `serde_bytes::ByteBuf`) takes the decryption
//! buffer itself instead of a copy.
//!
//! Postcard encodes a string as its length (a varint) and its bytes. When
//! the field's type asks for an owned string, the buffer the field was
//! decrypted into becomes the string: the length prefix is moved out, the
//! bytes it leaves behind are wiped, and no second allocation or copy is
//! made (nor a second copy of the plaintext left to wipe). Every other
//! type is decoded by postcard from the buffer, which the caller wipes; so
//! is every entry of a packed part ([`decode_slice`]).

use std::cell::Cell;

use serde::de::{self, DeserializeOwned, Visitor};
use zeroize::Zeroize;

use super::plaintext::PlaintextBuf;
use crate::Error;

/// Decodes `T` from the plaintext in `buf`. If `T` is a string, `buf` is
/// left empty: its allocation became the string.
pub(super) fn decode<T: DeserializeOwned>(buf: &mut PlaintextBuf) -> Result<T, Error> {
    let trailing = Cell::new(false);
    let result = T::deserialize(Owned {
        buf,
        trailing: &trailing,
    });
    match result {
        Ok(value) => Ok(value),
        Err(_) if trailing.get() => Err(trailing_bytes()),
        Err(e) => Err(decode_error(&e)),
    }
}

/// Decodes `T` from `bytes`, one entry of a packed part's plaintext,
/// refusing trailing bytes. A string is copied out of `bytes`, which the
/// caller wipes (the entries of a part share one buffer, so none can take
/// it).
pub(super) fn decode_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(trailing_bytes()),
        Err(e) => Err(decode_error(&e)),
    }
}

fn trailing_bytes() -> Error {
    Error::Encoding {
        action: "decode",
        reason: "trailing bytes after the value: was it sealed as another type?".into(),
    }
}

fn decode_error(e: &postcard::Error) -> Error {
    Error::Encoding {
        action: "decode",
        reason: e.to_string(),
    }
}

/// A deserializer over one decrypted value that owns its buffer.
struct Owned<'de, 'a> {
    buf: &'de mut PlaintextBuf,
    /// Set when the value decoded but bytes followed it.
    trailing: &'a Cell<bool>,
}

impl<'de> Owned<'de, '_> {
    /// Decodes through postcard from the buffer, refusing trailing bytes.
    fn with<R>(
        self,
        f: impl FnOnce(
            &mut postcard::Deserializer<'de, postcard::de_flavors::Slice<'de>>,
        ) -> postcard::Result<R>,
    ) -> postcard::Result<R> {
        let bytes: &'de PlaintextBuf = self.buf;
        let mut de = postcard::Deserializer::from_bytes(bytes.as_slice());
        let value = f(&mut de)?;
        if de.finalize()?.is_empty() {
            Ok(value)
        } else {
            self.trailing.set(true);
            Err(postcard::Error::DeserializeBadEncoding)
        }
    }

    /// Takes the buffer as the bytes of an owned string: checks the length
    /// prefix against what follows it, moves the bytes to the front and
    /// wipes what the prefix leaves behind.
    fn take_string_bytes(self) -> postcard::Result<Vec<u8>> {
        let (len, prefix) = varint(self.buf.as_slice())?;
        match (self.buf.as_slice().len() - prefix).cmp(&len) {
            std::cmp::Ordering::Less => return Err(postcard::Error::DeserializeUnexpectedEnd),
            std::cmp::Ordering::Greater => {
                self.trailing.set(true);
                return Err(postcard::Error::DeserializeBadEncoding);
            }
            std::cmp::Ordering::Equal => {}
        }
        let mut bytes = self.buf.take();
        bytes.copy_within(prefix.., 0);
        if let Some(left) = bytes.get_mut(len..) {
            left.zeroize();
        }
        bytes.truncate(len);
        Ok(bytes)
    }
}

/// Reads postcard's varint length: `(value, bytes it took)`.
fn varint(bytes: &[u8]) -> postcard::Result<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let len = usize::try_from(value).map_err(|_| postcard::Error::DeserializeBadVarint)?;
            return Ok((len, i + 1));
        }
    }
    Err(postcard::Error::DeserializeBadVarint)
}

macro_rules! delegate {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> postcard::Result<V::Value> {
                self.with(|de| de::Deserializer::$method(de, $($arg,)* visitor))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Owned<'de, '_> {
    type Error = postcard::Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> postcard::Result<V::Value> {
        let bytes = self.take_string_bytes()?;
        match String::from_utf8(bytes) {
            Ok(text) => visitor.visit_string(text),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(postcard::Error::DeserializeBadUtf8)
            }
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> postcard::Result<V::Value> {
        visitor.visit_byte_buf(self.take_string_bytes()?)
    }

    delegate! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_bytes();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: serde::Serialize>(value: &T) -> PlaintextBuf {
        PlaintextBuf::holding(postcard::to_stdvec(value).unwrap())
    }

    #[test]
    fn a_string_takes_the_buffer_and_other_types_decode_as_postcard() {
        let text = "x".repeat(300); // a two-byte length prefix
        let mut buf = encoded(&text);
        let capacity = buf.capacity();
        let opened: String = decode(&mut buf).unwrap();
        assert_eq!(opened, text);
        assert_eq!(opened.capacity(), capacity, "the buffer became the string");
        assert!(buf.as_slice().is_empty());

        let mut buf = encoded(&Some(825_000_u64));
        assert_eq!(decode::<Option<u64>>(&mut buf).unwrap(), Some(825_000));
        let mut buf = encoded(&vec![1_u8, 2, 3]);
        assert_eq!(decode::<Vec<u8>>(&mut buf).unwrap(), [1, 2, 3]);
        let mut buf = encoded(&("a".to_owned(), 7_i32));
        assert_eq!(
            decode::<(String, i32)>(&mut buf).unwrap(),
            ("a".to_owned(), 7)
        );
    }

    /// An owned byte buffer, as `serde_bytes::ByteBuf` deserializes.
    #[derive(Debug, PartialEq)]
    struct ByteBuf(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for ByteBuf {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    #[test]
    fn a_byte_buffer_takes_the_buffer_too() {
        let bytes = vec![7_u8; 200];
        let mut buf = encoded(&bytes);
        let capacity = buf.capacity();
        let opened: ByteBuf = decode(&mut buf).unwrap();
        assert_eq!(opened.0, bytes);
        assert_eq!(opened.0.capacity(), capacity);
    }

    #[test]
    fn wrong_lengths_trailing_bytes_and_bad_utf8_are_errors() {
        let mut long = PlaintextBuf::holding(vec![3, b'a', b'b', b'c', b'd']);
        let err = decode::<String>(&mut long).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        let mut short = PlaintextBuf::holding(vec![3, b'a', b'b']);
        assert!(decode::<String>(&mut short).is_err());
        let mut bad = PlaintextBuf::holding(vec![2, 0xff, 0xfe]);
        assert!(matches!(
            decode::<String>(&mut bad),
            Err(Error::Encoding { .. })
        ));
        let mut trailing_int = PlaintextBuf::holding(vec![7, 0]);
        let err = decode::<u64>(&mut trailing_int).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        assert!(decode::<String>(&mut PlaintextBuf::holding(vec![0x80; 11])).is_err());
    }
}
