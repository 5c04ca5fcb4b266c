//! Virtualenv layout: preparing a uv venv for a fixed-output derivation and restoring it in
//! the main derivation.
