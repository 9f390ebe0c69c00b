//! The layer check of `make lint`: no import circle between the files of a crate, and no
//! file over [`MAX_LINES`] lines.
//!
//! A file depends on another when it names a module the other file defines: in a `use`
//! item or in a path in code (`crate::x::y`, `super::x`, `self::x`, a child module's
//! `child::item`, or a name a `use` brought in). A path resolves to the file of the
//! longest module prefix it names, so `crate::cache::status::CacheStatus` is a dependency
//! on `cache/status.rs`, and `crate::cache::forward` on `cache.rs`. Declaring `mod child;`
//! is not a dependency (else every child that uses its parent would be a circle); naming
//! the child's items is. Test code (`#[cfg(test)]` items and modules) is left out: tests
//! may reach up the layers to build what they test.
//!
//! Paths inside macro invocations are read from their tokens, so `format!("{}",
//! crate::x::f())` counts too. Paths in doc comments do not.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::Visit;

/// The most lines a file may have.
pub const MAX_LINES: usize = 600;

/// The source directories `make lint` checks, relative to the repository root.
pub const CHECKED_DIRS: [&str; 2] = ["src", "config/src"];

/// Why one file depends on another: where, and the path that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub line: usize,
    pub path: String,
}

/// An import circle: its files, and one chain of edges that goes round it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub files: Vec<String>,
    pub chain: Vec<Edge>,
    /// Every edge between two of its files.
    pub edges: Vec<Edge>,
}

/// What the check finds in one source directory.
#[derive(Debug, Default)]
pub struct Report {
    pub circles: Vec<Circle>,
    /// Files over [`MAX_LINES`], with their line counts.
    pub long_files: Vec<(String, usize)>,
    /// Files that do not parse, or that a `mod` names and the tree lacks.
    pub errors: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.circles.is_empty() && self.long_files.is_empty() && self.errors.is_empty()
    }

    /// The findings, one block each, for a person to act on.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for circle in &self.circles {
            let _ = writeln!(
                out,
                "import circle ({} files): {}",
                circle.files.len(),
                circle.files.join(", ")
            );
            for edge in &circle.chain {
                let _ = writeln!(
                    out,
                    "  {}:{} `{}` -> {}",
                    edge.from, edge.line, edge.path, edge.to
                );
            }
        }
        for (file, lines) in &self.long_files {
            let _ = writeln!(out, "file over {MAX_LINES} lines: {file} ({lines})");
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        out
    }

    /// Every edge inside each circle, not only the chain round it: what a person untying
    /// one needs to see.
    pub fn render_circle_edges(&self) -> String {
        let mut out = String::new();
        for circle in &self.circles {
            let _ = writeln!(out, "edges inside {}:", circle.files.join(", "));
            for edge in &circle.edges {
                let _ = writeln!(
                    out,
                    "  {}:{} `{}` -> {}",
                    edge.from, edge.line, edge.path, edge.to
                );
            }
        }
        out
    }
}

/// Checks one source directory of a repository (`dir` relative to `root`, e.g.
/// `config/src`). A missing directory is an error: the check must not pass by looking
/// nowhere.
pub fn check_dir(root: &Path, dir: &str) -> Report {
    let mut files = BTreeMap::new();
    let base = root.join(dir);
    if !base.is_dir() {
        return Report {
            errors: vec![format!("{} is not a directory", base.display())],
            ..Report::default()
        };
    }
    let mut errors = Vec::new();
    read_rs_files(&base, dir, &mut files, &mut errors);
    let mut report = check_files(dir, &files);
    report.errors.extend(errors);
    report
}

fn read_rs_files(
    dir: &Path,
    rel: &str,
    files: &mut BTreeMap<String, String>,
    errors: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let rel_path = format!("{rel}/{name}");
        if path.is_dir() {
            read_rs_files(&path, &rel_path, files, errors);
        } else if name.ends_with(".rs") {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    files.insert(rel_path, text);
                }
                Err(e) => errors.push(format!("{rel_path}: {e}")),
            }
        }
    }
}

/// Checks the files of one source directory, given as path (starting with `dir`) → text.
/// The crate roots are `dir/main.rs` and `dir/lib.rs`, whichever exist.
pub fn check_files(dir: &str, files: &BTreeMap<String, String>) -> Report {
    let mut report = Report::default();
    for (path, text) in files {
        let lines = text.lines().count();
        if lines > MAX_LINES {
            report.long_files.push((path.clone(), lines));
        }
    }
    let mut found_root = false;
    for root in ["main.rs", "lib.rs"] {
        let root_path = format!("{dir}/{root}");
        if files.contains_key(&root_path) {
            found_root = true;
            let krate = Crate::load(dir, &root_path, files, &mut report.errors);
            let edges = krate.edges();
            report.circles.extend(circles(&krate, &edges));
        }
    }
    if !found_root {
        report
            .errors
            .push(format!("{dir} has neither main.rs nor lib.rs"));
    }
    report
}

/// One file of a crate's module tree.
struct File {
    path: String,
    /// The module the file defines, from the crate root.
    module: Vec<String>,
    ast: syn::File,
}

/// The names each module scope's `use` items bind, to the absolute paths they stand for.
type Aliases = HashMap<Vec<String>, HashMap<String, Vec<String>>>;

/// A crate's files and the modules they define (inline modules map to their file).
struct Crate {
    files: Vec<File>,
    modules: HashMap<Vec<String>, usize>,
}

impl Crate {
    fn load(
        dir: &str,
        root: &str,
        sources: &BTreeMap<String, String>,
        errors: &mut Vec<String>,
    ) -> Crate {
        let mut krate = Crate {
            files: Vec::new(),
            modules: HashMap::new(),
        };
        // (file path, module path, the directory its `mod x;` children live in)
        let mut queue = VecDeque::from([(root.to_string(), Vec::new(), dir.to_string())]);
        while let Some((path, module, child_dir)) = queue.pop_front() {
            let Some(text) = sources.get(&path) else {
                continue;
            };
            let ast = match syn::parse_file(text) {
                Ok(ast) => ast,
                Err(e) => {
                    let line = e.span().start().line;
                    errors.push(format!("{path}:{line}: does not parse: {e}"));
                    continue;
                }
            };
            let index = krate.files.len();
            let mut declared = Vec::new();
            collect_modules(&ast.items, &module, &child_dir, &mut declared, &mut |m| {
                krate.modules.insert(m, index);
            });
            for (name, child_module, parent_dir) in declared {
                let flat = format!("{parent_dir}/{name}.rs");
                let nested = format!("{parent_dir}/{name}/mod.rs");
                let (child_path, grandchild_dir) = if sources.contains_key(&flat) {
                    (flat, format!("{parent_dir}/{name}"))
                } else if sources.contains_key(&nested) {
                    (nested, format!("{parent_dir}/{name}"))
                } else {
                    errors.push(format!("{path}: `mod {name};` has no file {flat}"));
                    continue;
                };
                queue.push_back((child_path, child_module, grandchild_dir));
            }
            krate.files.push(File { path, module, ast });
        }
        krate
    }

    /// The absolute path `segments` names from `scope`, and how many of its leading
    /// segments are the module that defines it; `None` outside the crate.
    fn resolve(
        &self,
        scope: &[String],
        segments: &[String],
        aliases: &Aliases,
    ) -> Option<(Vec<String>, usize)> {
        let first = segments.first()?;
        let absolute: Vec<String> = match first.as_str() {
            "crate" => segments[1..].to_vec(),
            "self" => scope.iter().chain(&segments[1..]).cloned().collect(),
            "super" => {
                let supers = segments.iter().take_while(|s| *s == "super").count();
                let base = scope.len().checked_sub(supers)?;
                scope[..base]
                    .iter()
                    .chain(&segments[supers..])
                    .cloned()
                    .collect()
            }
            name => {
                let child: Vec<String> = scope.iter().cloned().chain([name.to_string()]).collect();
                if self.modules.contains_key(&child) {
                    child.into_iter().chain(segments[1..].to_vec()).collect()
                } else {
                    let alias = aliases.get(scope).and_then(|a| a.get(name))?;
                    alias.iter().chain(&segments[1..]).cloned().collect()
                }
            }
        };
        let module_len = (0..=absolute.len())
            .rev()
            .find(|&len| self.modules.contains_key(&absolute[..len]))?;
        Some((absolute, module_len))
    }

    /// Every dependency between two different files, in file order.
    fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for (index, file) in self.files.iter().enumerate() {
            let mut uses = UseCollector {
                scope: file.module.clone(),
                uses: Vec::new(),
            };
            uses.visit_file(&file.ast);
            // Aliases first (a `use` may follow the code that relies on it); each `use`
            // is resolved against the aliases of those before it in its scope.
            let mut aliases = Aliases::new();
            let mut found = Vec::new();
            for item in &uses.uses {
                let Some((absolute, module_len)) =
                    self.resolve(&item.scope, &item.segments, &aliases)
                else {
                    continue;
                };
                let module = absolute[..module_len].to_vec();
                match &item.name {
                    Some(name) => {
                        // Importing a module only names it; the dependency is on what
                        // is taken from it, found where the name is used.
                        if module_len < absolute.len() || name.is_empty() {
                            found.push((module, item.line, item.text.clone()));
                        }
                        if !name.is_empty() {
                            aliases
                                .entry(item.scope.clone())
                                .or_default()
                                .insert(name.clone(), absolute);
                        }
                    }
                    None => found.push((module, item.line, item.text.clone())),
                }
            }
            let mut paths = PathCollector {
                krate: self,
                scope: file.module.clone(),
                aliases: &aliases,
                found: Vec::new(),
            };
            paths.visit_file(&file.ast);
            found.extend(paths.found);
            let mut seen = BTreeSet::new();
            for (module, line, path) in found {
                let Some(&to) = self.modules.get(&module) else {
                    continue;
                };
                // The first place a file names a path stands for all the others.
                if to != index && seen.insert((to, path.clone())) {
                    edges.push(Edge {
                        from: file.path.clone(),
                        to: self.files[to].path.clone(),
                        line,
                        path,
                    });
                }
            }
        }
        edges
    }
}

/// The modules `items` declare under `module`: inline ones go to `inline` (they belong to
/// the file), `mod x;` ones to `declared` with the directory their file lives in.
fn collect_modules(
    items: &[syn::Item],
    module: &[String],
    dir: &str,
    declared: &mut Vec<(String, Vec<String>, String)>,
    inline: &mut dyn FnMut(Vec<String>),
) {
    inline(module.to_vec());
    for item in items {
        let syn::Item::Mod(m) = item else { continue };
        if is_test(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let child: Vec<String> = module.iter().cloned().chain([name.clone()]).collect();
        match &m.content {
            Some((_, inner)) => {
                collect_modules(inner, &child, &format!("{dir}/{name}"), declared, inline)
            }
            None => declared.push((name, child, dir.to_string())),
        }
    }
}

/// `#[cfg(test)]`, alone or as `#[cfg(all(test, ...))]`.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && {
            let mut test = false;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("test") {
                    test = true;
                } else if meta.path.is_ident("all") {
                    let _ = meta.parse_nested_meta(|inner| {
                        test |= inner.path.is_ident("test");
                        Ok(())
                    });
                }
                Ok(())
            });
            test
        }
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// One leaf of a `use` tree.
struct UseItem {
    scope: Vec<String>,
    segments: Vec<String>,
    /// The name it binds; `None` for a glob.
    name: Option<String>,
    line: usize,
    text: String,
}

struct UseCollector {
    scope: Vec<String>,
    uses: Vec<UseItem>,
}

impl UseCollector {
    fn flatten(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.flatten(&p.tree, prefix, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.leaf(prefix, &n.ident.to_string(), None, line),
            syn::UseTree::Rename(r) => {
                let alias = r.rename.to_string();
                self.leaf(prefix, &r.ident.to_string(), Some(alias), line)
            }
            syn::UseTree::Glob(_) => self.uses.push(UseItem {
                scope: self.scope.clone(),
                segments: prefix.clone(),
                name: None,
                line,
                text: format!("{}::*", prefix.join("::")),
            }),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.flatten(tree, prefix, line);
                }
            }
        }
    }

    fn leaf(&mut self, prefix: &[String], ident: &str, rename: Option<String>, line: usize) {
        // `use a::b::{self}` binds `b` to `a::b`.
        let (segments, name) = if ident == "self" {
            (prefix.to_vec(), prefix.last().cloned())
        } else {
            let mut segments = prefix.to_vec();
            segments.push(ident.to_string());
            (segments, Some(ident.to_string()))
        };
        let Some(name) = rename.or(name) else { return };
        if name == "_" {
            // `use x::Trait as _` binds nothing, but still depends on x.
            self.uses.push(UseItem {
                scope: self.scope.clone(),
                text: segments.join("::"),
                segments,
                name: Some(String::new()),
                line,
            });
            return;
        }
        self.uses.push(UseItem {
            scope: self.scope.clone(),
            text: segments.join("::"),
            segments,
            name: Some(name),
            line,
        });
    }
}

impl<'ast> Visit<'ast> for UseCollector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.scope.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.scope.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if u.leading_colon.is_none() {
            let line = u.use_token.span.start().line;
            self.flatten(&u.tree, &mut Vec::new(), line);
        }
    }
}

struct PathCollector<'a> {
    krate: &'a Crate,
    scope: Vec<String>,
    aliases: &'a Aliases,
    found: Vec<(Vec<String>, usize, String)>,
}

impl PathCollector<'_> {
    fn record(&mut self, segments: &[String], line: usize) {
        // A single name is a local item or one a `use` brought in (that `use` counted).
        if segments.len() < 2 {
            return;
        }
        if let Some((mut absolute, module_len)) =
            self.krate.resolve(&self.scope, segments, self.aliases)
        {
            absolute.truncate(module_len);
            self.found.push((absolute, line, segments.join("::")));
        }
    }

    /// `a::b::c` sequences in a macro's tokens (its arguments are not parsed as code).
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let mut chain: Vec<String> = Vec::new();
        let mut line = 0;
        let mut colons = 0;
        let flush = |this: &mut Self, chain: &mut Vec<String>, line: usize| {
            if chain.len() >= 2 {
                this.record(chain, line);
            }
            chain.clear();
        };
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => {
                    if colons != 2 && !chain.is_empty() {
                        flush(self, &mut chain, line);
                    }
                    if chain.is_empty() {
                        line = ident.span().start().line;
                    }
                    chain.push(ident.to_string());
                    colons = 0;
                }
                TokenTree::Punct(p) if p.as_char() == ':' => {
                    colons += 1;
                    if colons == 1 && p.spacing() != Spacing::Joint {
                        flush(self, &mut chain, line);
                        colons = 0;
                    }
                }
                TokenTree::Group(group) => {
                    flush(self, &mut chain, line);
                    colons = 0;
                    self.scan_tokens(group.stream());
                }
                _ => {
                    flush(self, &mut chain, line);
                    colons = 0;
                }
            }
        }
        flush(self, &mut chain, line);
    }
}

impl<'ast> Visit<'ast> for PathCollector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.scope.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.scope.pop();
    }

    // Resolved with their aliases already.
    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}

    // `pub(in crate::x)` says who may see an item, not what it uses.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}

    // Attributes (docs, cfgs, derives) name no modules of the crate.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = path
                .segments
                .first()
                .map_or(0, |s| s.ident.span().start().line);
            self.record(&segments, line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        syn::visit::visit_macro(self, mac);
        self.scan_tokens(mac.tokens.clone());
    }
}

/// The strongly connected components of more than one file, each with one chain of edges
/// that goes round it (the shortest from its first file back to itself).
fn circles(krate: &Crate, edges: &[Edge]) -> Vec<Circle> {
    let index: HashMap<&str, usize> = krate
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let n = krate.files.len();
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, edge) in edges.iter().enumerate() {
        if let (Some(&a), Some(&b)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            out[a].push((b, e));
        }
    }
    let mut found = Vec::new();
    for component in tarjan(&out) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let mut files: Vec<String> = members
            .iter()
            .map(|&i| krate.files[i].path.clone())
            .collect();
        files.sort();
        let Some(&start) = members
            .iter()
            .min_by_key(|&&i| krate.files[i].path.as_str())
        else {
            continue;
        };
        let chain = shortest_cycle(start, &members, &out)
            .into_iter()
            .map(|e| edges[e].clone())
            .collect();
        let inside = edges
            .iter()
            .filter(|e| files.contains(&e.from) && files.contains(&e.to))
            .cloned()
            .collect();
        found.push(Circle {
            files,
            chain,
            edges: inside,
        });
    }
    found.sort_by(|a, b| a.files.cmp(&b.files));
    found
}

/// Edge indices of the shortest path from `start` back to itself inside `members`.
fn shortest_cycle(
    start: usize,
    members: &BTreeSet<usize>,
    out: &[Vec<(usize, usize)>],
) -> Vec<usize> {
    let mut via: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &(next, edge) in &out[node] {
            if !members.contains(&next) || via.contains_key(&next) {
                continue;
            }
            via.insert(next, (node, edge));
            if next == start {
                let mut chain = Vec::new();
                let mut at = start;
                while let Some(&(prev, edge)) = via.get(&at) {
                    chain.push(edge);
                    at = prev;
                    if at == start {
                        break;
                    }
                }
                chain.reverse();
                return chain;
            }
            queue.push_back(next);
        }
    }
    Vec::new()
}

/// Tarjan's strongly connected components.
fn tarjan(out: &[Vec<(usize, usize)>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        out: &'a [Vec<(usize, usize)>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &(w, _) in s.out[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let n = out.len();
    let mut s = State {
        out,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.components
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a synthetic `src/` of these files (paths below `src/`).
    fn check(files: &[(&str, &str)]) -> Report {
        let tree = files
            .iter()
            .map(|(path, text)| (format!("src/{path}"), text.to_string()))
            .collect();
        check_files("src", &tree)
    }

    fn circle_files(report: &Report) -> Vec<Vec<String>> {
        report.circles.iter().map(|c| c.files.clone()).collect()
    }

    #[test]
    fn a_clean_tree_passes() {
        let report = check(&[
            ("main.rs", "mod a;\nmod b;\nfn main() { a::run(); }\n"),
            (
                "a.rs",
                "use crate::b::Thing;\npub fn run() { let _ = Thing; }\n",
            ),
            ("b.rs", "pub struct Thing;\n"),
        ]);
        assert!(report.is_clean(), "{}", report.render());
    }

    #[test]
    fn a_circle_between_siblings_fails_with_a_chain_round_it() {
        let report = check(&[
            ("main.rs", "mod a;\nmod b;\nmod c;\nfn main() {}\n"),
            ("a.rs", "use crate::b::f;\npub fn g() { f() }\n"),
            // A path in code, not a `use`.
            ("b.rs", "pub fn f() { crate::c::h() }\n"),
            // A path inside a macro's arguments.
            ("c.rs", "pub fn h() { println!(\"{}\", super::a::g()) }\n"),
        ]);
        assert_eq!(
            circle_files(&report),
            vec![vec!["src/a.rs", "src/b.rs", "src/c.rs"]]
        );
        let chain: Vec<(&str, &str)> = report.circles[0]
            .chain
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            chain,
            vec![
                ("src/a.rs", "src/b.rs"),
                ("src/b.rs", "src/c.rs"),
                ("src/c.rs", "src/a.rs")
            ]
        );
        assert_eq!(report.circles[0].chain[0].line, 1);
        assert!(!report.is_clean());
    }

    #[test]
    fn a_parent_and_child_using_each_other_is_a_circle() {
        let report = check(&[
            ("main.rs", "mod cache;\nfn main() {}\n"),
            (
                "cache.rs",
                "mod key;\npub struct Entry;\npub fn lookup() { key::make(); }\n",
            ),
            (
                "cache/key.rs",
                "use super::Entry;\npub fn make() -> Option<Entry> { None }\n",
            ),
        ]);
        assert_eq!(
            circle_files(&report),
            vec![vec!["src/cache.rs", "src/cache/key.rs"]]
        );
    }

    #[test]
    fn declaring_a_child_or_importing_it_as_a_module_is_not_a_dependency_on_it() {
        // The child uses its parent; the parent only declares and names the child module,
        // and reaches a grandchild through it.
        let report = check(&[
            ("main.rs", "mod cache;\nfn main() {}\n"),
            (
                "cache.rs",
                "pub mod key;\nuse self::key as k;\npub fn run() { k::status::s(); }\n",
            ),
            (
                "cache/key.rs",
                "pub mod status;\npub fn f() { super::run() }\n",
            ),
            ("cache/key/status.rs", "pub fn s() {}\n"),
        ]);
        assert!(report.is_clean(), "{}", report.render());
    }

    #[test]
    fn test_code_is_left_out() {
        let report = check(&[
            ("main.rs", "mod a;\nmod b;\nfn main() {}\n"),
            ("a.rs", "pub fn f() { crate::b::g() }\n"),
            (
                "b.rs",
                "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::a::f;\n}\n",
            ),
        ]);
        assert!(report.is_clean(), "{}", report.render());
    }

    #[test]
    fn a_file_over_600_lines_fails_and_one_of_600_passes() {
        let long = "// line\n".repeat(MAX_LINES + 1);
        let fits = "// line\n".repeat(MAX_LINES);
        let report = check(&[
            ("main.rs", "mod a;\nmod b;\nfn main() {}\n"),
            ("a.rs", long.as_str()),
            ("b.rs", fits.as_str()),
        ]);
        assert_eq!(report.long_files, vec![("src/a.rs".to_string(), 601)]);
        assert!(report.circles.is_empty());
        assert!(!report.is_clean());
    }

    #[test]
    fn a_missing_module_file_or_a_parse_error_fails() {
        let report = check(&[
            ("main.rs", "mod gone;\nmod broken;\nfn main() {}\n"),
            ("broken.rs", "fn {\n"),
        ]);
        assert_eq!(report.errors.len(), 2, "{}", report.render());
        assert!(!report.is_clean());
    }

    #[test]
    fn a_missing_directory_fails() {
        let report = check_dir(Path::new("/nonexistent-layers-root"), "src");
        assert!(!report.is_clean());
    }
}
