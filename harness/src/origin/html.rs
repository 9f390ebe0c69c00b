//! The `/html` page: a realistic, deterministic HTML5 document for testing HTML rewriting.
//!
//! It deliberately mixes the things rewriters trip over: absolute, protocol-relative and
//! relative URLs, `srcset` lists, single-quoted and upper-case attributes, inline script
//! and style that mention the origin host, comments, and multi-byte UTF-8 that a K-byte
//! dribble will split mid-character.

use std::sync::OnceLock;

/// The host every absolute link on the page points at, so a test knows what to rewrite.
pub const HTML_ORIGIN_HOST: &str = "origin.example";

/// The page served by `/html` (uncompressed), identical on every call.
pub fn html_page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(build_page)
}

struct Post {
    slug: &'static str,
    title: &'static str,
    author: &'static str,
    tags: &'static [&'static str],
}

const POSTS: &[Post] = &[
    Post {
        slug: "streaming-first-byte",
        title: "Streaming the first byte sooner",
        author: "ana",
        tags: &["performance", "streaming"],
    },
    Post {
        slug: "cafe-caching",
        title: "Caching at the café: naïve vs. tiered ✓",
        author: "bruno",
        tags: &["caching", "tiers"],
    },
    Post {
        slug: "range-requests",
        title: "Range requests on 16 GiB objects",
        author: "chiara",
        tags: &["ranges", "large-files"],
    },
    Post {
        slug: "brotli-on-the-fly",
        title: "Brotli on the fly – worth it?",
        author: "dmitri",
        tags: &["compression"],
    },
    Post {
        slug: "sse-at-the-edge",
        title: "Server-sent events at the edge",
        author: "eun-ji",
        tags: &["sse", "streaming"],
    },
    Post {
        slug: "zurich-latency",
        title: "Zürich → São Paulo: measuring latency",
        author: "françois",
        tags: &["latency", "geo"],
    },
    Post {
        slug: "html-rewriting",
        title: "Rewriting HTML without buffering it",
        author: "gita",
        tags: &["html", "rewriting"],
    },
    Post {
        slug: "hop-by-hop",
        title: "Hop-by-hop headers, explained",
        author: "håkon",
        tags: &["http", "headers"],
    },
    Post {
        slug: "request-collapsing",
        title: "Request collapsing and the thundering herd",
        author: "ines",
        tags: &["caching"],
    },
    Post {
        slug: "unicode-urls",
        title: "Unicode in URLs: naïve encoding pitfalls",
        author: "jürgen",
        tags: &["unicode", "urls"],
    },
    Post {
        slug: "chunked-framing",
        title: "Chunked framing and truncated bodies",
        author: "kenji",
        tags: &["http", "framing"],
    },
    Post {
        slug: "edge-images",
        title: "Responsive images through an edge proxy",
        author: "lúcia",
        tags: &["images", "srcset"],
    },
    Post {
        slug: "origin-shield",
        title: "Origin shielding for bursty traffic",
        author: "mårten",
        tags: &["caching", "tiers"],
    },
    Post {
        slug: "keep-alive",
        title: "Keep-alive pools between edge and origin",
        author: "noémie",
        tags: &["connections"],
    },
];

/// Sentences are picked by index so every post reads differently but the page never changes.
const SENTENCES: &[&str] = &[
    "Time to first byte is dominated by how long the proxy waits before it starts writing.",
    "Le café du coin sert un espresso naïve et très bien fait – c’est parfait ✓.",
    "A proxy that buffers the whole body turns a streaming response into a slow one.",
    "Große Dateien sollten in konstantem Speicher übertragen werden, nicht am Stück.",
    "Each frame is forwarded as soon as it arrives, without waiting for the next one.",
    "東京、大阪、京都 — edge locations close to the user keep round trips short.",
    "Compression should happen once, ideally at the origin, and never twice.",
    "Señales en tiempo real: los eventos deben llegar uno a uno, sin retraso.",
    "Hop-by-hop headers describe one connection and must not be forwarded.",
    "Ελληνικά κείμενα και emoji 🚀 test the UTF-8 handling of any rewriter.",
    "Truncated upstream bodies must stay truncated downstream, never silently completed.",
    "Øresund, Kraków and Reykjavík all appear in the latency dashboard.",
];

fn sentence(i: usize) -> &'static str {
    SENTENCES[i % SENTENCES.len()]
}

fn build_page() -> String {
    let o = HTML_ORIGIN_HOST;
    let mut page = String::with_capacity(40 * 1024);
    page.push_str(&format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>firstbyte dev origin – café naïve ✓</title>
<meta name="description" content="A deterministic page for testing HTML rewriting at the edge.">
<meta property="og:url" content="http://{o}/">
<meta property="og:image" content="http://{o}/img/og-card.png">
<link rel="canonical" href="http://{o}/">
<link rel="stylesheet" href="http://{o}/static/site.css">
<link rel="preload" href="http://{o}/static/fonts/inter.woff2" as="font" type="font/woff2" crossorigin>
<link rel="icon" href="/favicon.ico">
<link rel="alternate" type="application/rss+xml" href="//{o}/feed.xml">
<style>
  body {{ font-family: Inter, sans-serif; margin: 0 auto; max-width: 60rem; }}
  .hero {{ background: url("http://{o}/img/hero.jpg") center / cover; }}
  nav a {{ padding: 0 .5rem; }}
</style>
<script src="http://{o}/static/app.js" defer></script>
<script>
  window.__CONFIG__ = {{ api: "http://{o}/api/v1", cdn: "//{o}/static/" }};
</script>
</head>
<body>
<!-- Navigation: absolute, relative and protocol-relative links on purpose. -->
<header class="hero">
<nav>
<a href="http://{o}/">Home</a>
<a href="http://{o}/posts/">Posts</a>
<a href="/about">About</a>
<a href="//{o}/archive/">Archive</a>
<a HREF='http://{o}/contact'>Contact</a>
<a href="https://elsewhere.example/partner">Partner</a>
</nav>
<h1>Notes from the edge: café – naïve ✓ &amp; more</h1>
</header>
<main>
"#
    ));

    for (i, post) in POSTS.iter().enumerate() {
        push_post(&mut page, i, post);
    }

    page.push_str(&format!(
        r#"</main>
<aside>
<form action="http://{o}/search" method="get" class="search">
<label for="q">Search</label>
<input id="q" name="q" type="search" placeholder="café, naïve, ✓">
<input type="hidden" name="ref" value="http://{o}/">
<button type="submit">Go</button>
</form>
<form action='/newsletter/subscribe' method="post">
<input name="email" type="email" placeholder="you@example.com">
<button>Subscribe</button>
</form>
</aside>
<footer>
<p>© 2024 firstbyte · <a href="http://{o}/privacy">Privacy</a> · <a href="http://{o}/terms">Terms</a></p>
<img src="http://{o}/img/logo.svg" alt="logo" width="120" height="32">
</footer>
</body>
</html>
"#
    ));
    page
}

fn push_post(page: &mut String, i: usize, post: &Post) {
    let o = HTML_ORIGIN_HOST;
    let Post {
        slug,
        title,
        author,
        tags,
    } = post;
    let day = i + 1;
    let comments = (i * 7) % 23;
    page.push_str(&format!(
        r#"<article class="post" id="post-{i}">
<header>
<h2><a href="http://{o}/posts/{slug}">{title}</a></h2>
<p class="meta">Published <time datetime="2024-03-{day:02}T09:00:00Z">March {day}, 2024</time> by <a href="http://{o}/authors/{author}" rel="author">{author}</a></p>
</header>
<figure>
<img src="http://{o}/img/{slug}-800.jpg" srcset="http://{o}/img/{slug}-400.jpg 400w, http://{o}/img/{slug}-800.jpg 800w, http://{o}/img/{slug}-1600.jpg 1600w" sizes="(max-width: 600px) 100vw, 800px" alt="{title}" width="800" height="450" loading="lazy">
<figcaption>{}</figcaption>
</figure>
<p>{} {} {}</p>
<p>{} See <a href="/posts/{slug}/notes">the notes</a>, the <a href="http://{o}/posts/{slug}/data.csv" download>raw data</a> or <a href="https://elsewhere.example/cite?src=http%3A%2F%2F{o}%2Fposts%2F{slug}">a citation</a>.</p>
<blockquote cite="http://{o}/quotes/{i}">{}</blockquote>
<ul class="tags">
"#,
        sentence(i),
        sentence(i + 1),
        sentence(i + 2),
        sentence(i + 3),
        sentence(i + 4),
        sentence(i + 5),
    ));
    for tag in tags.iter() {
        page.push_str(&format!(
            "<li><a href=\"http://{o}/tags/{tag}\">#{tag}</a></li>\n"
        ));
    }
    page.push_str(&format!(
        r#"</ul>
<p><a class="more" href="http://{o}/posts/{slug}#comments">Comments ({comments})</a> · <a href="http://{o}/posts/{slug}/share" target="_blank" rel="noopener">Share</a></p>
</article>
"#
    ));
}
