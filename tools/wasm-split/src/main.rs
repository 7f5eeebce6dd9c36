//! `wasm-split <program.wasm> <pkg dir> <main out.wasm>`: cuts the browser's program, built with
//! relocations kept (`--emit-relocs`), along its split points (the features' `#[lazy]` page
//! functions in `app/src/routes.rs`). It writes each part and the chunks two or more parts share
//! into `<pkg dir>`, with `__wasm_split_manifest.json` (which files a part needs; the server reads
//! it to preload a page's parts) and the loader script, and the part every page needs to
//! `<main out.wasm>`, for wasm-bindgen.

use std::{path::Path, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, pkg, main_out] = args.as_slice() else {
        eprintln!("usage: wasm-split <program.wasm> <pkg dir> <main out.wasm>");
        return ExitCode::from(2);
    };
    match split(Path::new(input), Path::new(pkg), Path::new(main_out)) {
        Ok(parts) => {
            eprintln!("wasm-split: {parts} files besides the main program");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-split: {e}");
            ExitCode::FAILURE
        }
    }
}

fn split(input: &Path, pkg: &Path, main_out: &Path) -> Result<usize, String> {
    let wasm = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = pkg;
    options.main_out_path = main_out;
    // wasm-bindgen's script for the main program, which the loader imports.
    options.main_module = "./app.js";
    // The name Leptos's HydrationScripts looks for.
    options.link_name = "./__wasm_split.______________________.js";
    let split = wasm_split_cli_support::transform(options).map_err(|e| format!("{e:#}"))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map).map_err(|e| e.to_string())?;
    std::fs::write(pkg.join("__wasm_split_manifest.json"), manifest).map_err(|e| e.to_string())?;
    Ok(split.split_modules.len())
}
