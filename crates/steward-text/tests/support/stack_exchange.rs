//! Post bodies from the Stack Exchange dumps in the shared data folder, for the integration
//! test and the throughput example (both include this file with `#[path]`).

use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;

/// `$STEWARD_DATA_DIR`, or the workspace's sibling `shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("STEWARD_DATA_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

/// The `Body` attribute of every `<row>` in a `Posts.xml`, XML-unescaped (so still HTML).
pub fn read_post_bodies(posts_xml: &Path) -> std::io::Result<Vec<String>> {
    let mut reader = Reader::from_file(posts_xml).map_err(std::io::Error::other)?;
    let mut buffer = Vec::new();
    let mut bodies = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buffer)
            .map_err(std::io::Error::other)?
        {
            Event::Eof => break,
            Event::Empty(row) | Event::Start(row) if row.name().as_ref() == "row" => {
                for attribute in row.attributes() {
                    let attribute = attribute.map_err(std::io::Error::other)?;
                    if attribute.key.as_ref() == "Body" {
                        let body = attribute
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(std::io::Error::other)?;
                        bodies.push(body.into_owned());
                    }
                }
            }
            _ => {}
        }
        buffer.clear();
    }
    Ok(bodies)
}
