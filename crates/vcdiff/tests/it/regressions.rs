//! Inputs that once broke the decoder (found by fuzzing or review), each kept as a test.
