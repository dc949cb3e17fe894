//! TEMPORARY stand-in with the agreed API; replaced by the ingest branch at merge.
use crate::domain::NewAlert;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format { Generic }
impl std::str::FromStr for Format { type Err = String; fn from_str(_: &str) -> Result<Self, String> { Ok(Format::Generic) } }
impl std::fmt::Display for Format { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("generic") } }
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IngestError { pub field: String, pub problem: String, pub hint: String }
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct GenericMapping {}
pub fn parse(_: Format, _: &[u8], _: &GenericMapping) -> Result<Vec<NewAlert>, IngestError> { Err(IngestError { field: "body".into(), problem: "stub".into(), hint: String::new() }) }
pub fn detect(_: &[u8]) -> Result<Format, IngestError> { Ok(Format::Generic) }
