mod gen;
mod jit;
mod protection;
mod semantics;
mod text;
