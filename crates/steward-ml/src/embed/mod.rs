//! Sentence embedders behind one closed enum: [`Embedder::Bert`] (any BERT-family
//! sentence-transformer in safetensors) and [`Embedder::Lsa`] (TF-IDF + randomized
//! SVD trained on the community itself; needs no weights).
