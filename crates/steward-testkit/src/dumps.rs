//! Reading Stack Exchange dump files in tests, independently of the importer,
//! so a test can compare what was imported with what the file holds.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The `Body` attribute of every `<row>` in a `Posts.xml`, XML-unescaped (so
/// still HTML), in file order.
pub fn post_bodies(posts_xml: &Path) -> std::io::Result<Vec<String>> {
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
