//! Hand-written Thrift compact decoders, ported from apache/arrow-rs 57.0.
//!
//! Replaces the generic `polars_parquet_format::thrift::TCompactInputProtocol`
//! on the file-metadata footer decode path. Page-header and PageIndex decode
//! still go through the generic codec. Porting those is a follow-up task.

// `#[macro_use]` brings the `thrift_struct!` / `thrift_union!` / `thrift_enum!`
// / `write_thrift_field!` / `__thrift_*` macros into scope for sibling modules
// *before* they compile. Needed because `parquet_thrift.rs` uses
// `write_thrift_field!`; without this ordering macro resolution fails at
// `write_thrift_field!(i8, FieldType::Byte);` etc.
#[macro_use]
mod parquet_macros;
mod file_metadata_thrift;
mod parquet_thrift;

pub(crate) use file_metadata_thrift::{decode_file_metadata, decode_num_rows};

/// chaintrace's patch: the most elements a Thrift list or bytes a Thrift
/// binary reserves before decoding. polars reserved whatever count the
/// input stated, so a damaged 2 KB Parquet footer stating two billion
/// row groups made it allocate tens of gigabytes and abort.
pub(crate) const MAX_RESERVE: usize = 4096;
