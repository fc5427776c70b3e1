//! Importers and the sample community generator.
