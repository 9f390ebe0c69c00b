//! The `html` stage: rules do what they say, errors are values, and the contract's
//! invariants hold (split invariance, flush, untouched bytes byte-exact).

use bytes::Bytes;
use firstbyte_transform::html::{
    rewrite_srcset, rewrite_url, HtmlRewrite, HtmlRules, Insert, Position, RemoveAttribute,
    SetAttribute, UrlRewrite, DEFAULT_MEMORY_LIMIT,
};
use firstbyte_transform::testing::{concat, every_byte, run};
use firstbyte_transform::{Sink, Transform, TransformError};
use proptest::prelude::*;

const ORIGIN: &str = "http://origin.example";
const PUBLIC: &str = "https://www.example.com";

fn urls() -> Option<UrlRewrite> {
    Some(UrlRewrite {
        from: ORIGIN.into(),
        to: PUBLIC.into(),
    })
}

fn insert(selector: &str, position: Position, html: &str) -> Insert {
    Insert {
        selector: selector.into(),
        position,
        html: html.into(),
    }
}

/// The rules a site would use: a script at the end of `<head>`, a banner at the top of
/// `<body>`, link hygiene, tracking removed, origin URLs made public.
fn site_rules() -> HtmlRules {
    HtmlRules {
        inserts: vec![
            insert(
                "head",
                Position::Append,
                "<script src=\"/rum.js\"></script>",
            ),
            insert(
                "body",
                Position::Prepend,
                "<div class=\"banner\">Ünïcode ✓</div>",
            ),
            insert("#main", Position::Before, "<!-- before main -->"),
            insert("#main", Position::After, "<!-- after main -->"),
        ],
        set_attributes: vec![SetAttribute {
            selector: "a[target=_blank]".into(),
            name: "rel".into(),
            value: "noopener".into(),
        }],
        remove_attributes: vec![RemoveAttribute {
            selector: "*".into(),
            name: "data-track".into(),
        }],
        remove: vec![".ad".into(), "script[data-remove]".into()],
        rewrite_urls: urls(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
    }
}

/// Rules of every kind that match nothing in the documents below.
fn idle_rules() -> HtmlRules {
    HtmlRules {
        inserts: vec![
            insert("blink", Position::Append, "<b>x</b>"),
            insert("#nowhere", Position::Before, "<b>x</b>"),
        ],
        set_attributes: vec![SetAttribute {
            selector: "[data-none]".into(),
            name: "x".into(),
            value: "y".into(),
        }],
        remove_attributes: vec![RemoveAttribute {
            selector: "div.none".into(),
            name: "class".into(),
        }],
        remove: vec!["marquee".into()],
        rewrite_urls: Some(UrlRewrite {
            from: "http://nowhere.invalid".into(),
            to: PUBLIC.into(),
        }),
        memory_limit: DEFAULT_MEMORY_LIMIT,
    }
}

fn stage(rules: HtmlRules) -> HtmlRewrite {
    HtmlRewrite::new(rules).expect("valid rules")
}

/// The output for the whole input pushed at once.
fn rewrite(rules: HtmlRules, input: &str) -> String {
    let out = run(&mut stage(rules), input.as_bytes(), &[], false).expect("rewrites");
    String::from_utf8(out).expect("UTF-8 output")
}

fn rules_with_urls() -> HtmlRules {
    HtmlRules {
        rewrite_urls: urls(),
        ..HtmlRules::default()
    }
}

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="de">
<head>
  <meta charset="utf-8">
  <title>Grüße – Ünïcödé 日本語 🎉</title>
  <link rel="stylesheet" href="http://origin.example/style.css">
  <style>body { font: 1em/1.4 sans-serif } a[href^="http"] { color: red }</style>
  <script>if (a < b && "</p>" != '<!--') { document.write("<b>") }</script>
  <script data-remove src="http://origin.example/tracker.js"></script>
</head>
<BODY class=page data-track="page-1">
  <nav><a href="http://origin.example/">Start</a> | <a href='/relative'>Rel</a>
    | <a HREF=http://origin.example/x?y=1&amp;z=2 target=_blank data-track=nav>Ext</a>
    | <a href="https://elsewhere.example/">Elsewhere</a></nav>
  <main id="main">
    <p>Text with entities &amp; &lt;tags&gt; &eacute; and ümlauts, ½ and 中文.</p>
    <div class="ad banner-ad"><p>Buy <em>now</em>!</p></div>
    <img src="http://origin.example/a.png" srcset="http://origin.example/a-2x.png 2x, /a-3x.png 3x" alt="ä">
    <picture><source srcset="http://origin.example/s.webp 480w, http://origin.example/l.webp 1080w" type="image/webp"></picture>
    <form action="http://origin.example/search" method=get><input name=q value="süß"></form>
    <!-- a comment with <tags> and http://origin.example/ -->
    <textarea><p>not a tag</p> http://origin.example/</textarea>
    <svg viewBox="0 0 10 10"><a href="http://origin.example/svg"><circle r="4"/></a></svg>
    <template><a href="http://origin.example/t">t</a></template>
  </main>
  <footer>© 2024 <a href="http://origin.example.evil.com/">not ours</a></footer>
</BODY>
</html>
"#;

#[test]
fn script_is_appended_to_head_and_banner_prepended_to_body() {
    let rules = HtmlRules {
        inserts: vec![
            insert(
                "head",
                Position::Append,
                "<script src=\"/rum.js\"></script>",
            ),
            insert("body", Position::Prepend, "<div class=banner>Hi</div>"),
        ],
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(
            rules,
            "<html><head><title>t</title></head><body class=x><p>p</p></body></html>"
        ),
        "<html><head><title>t</title><script src=\"/rum.js\"></script></head>\
         <body class=x><div class=banner>Hi</div><p>p</p></body></html>"
    );
}

#[test]
fn inserts_go_before_and_after_elements() {
    let rules = HtmlRules {
        inserts: vec![
            insert("p", Position::Before, "<hr>"),
            insert("p", Position::After, "<br>"),
        ],
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(rules, "<div><p>a</p></div>"),
        "<div><hr><p>a</p><br></div>"
    );
}

#[test]
fn inserted_html_is_not_escaped() {
    let rules = HtmlRules {
        inserts: vec![insert("p", Position::Append, "<b>&amp;</b>")],
        ..HtmlRules::default()
    };
    assert_eq!(rewrite(rules, "<p>x</p>"), "<p>x<b>&amp;</b></p>");
}

#[test]
fn attributes_are_set_and_removed() {
    let rules = HtmlRules {
        set_attributes: vec![
            SetAttribute {
                selector: "a[target=_blank]".into(),
                name: "rel".into(),
                value: "noopener".into(),
            },
            SetAttribute {
                selector: "img".into(),
                name: "loading".into(),
                value: "lazy".into(),
            },
        ],
        remove_attributes: vec![RemoveAttribute {
            selector: "*".into(),
            name: "data-track".into(),
        }],
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(
            rules,
            "<a href=/x target=_blank data-track=1>x</a><a href=/y>y</a>\
             <img src=a.png loading=eager><p data-track='2'>p</p>"
        ),
        "<a href=/x target=_blank rel=\"noopener\">x</a><a href=/y>y</a>\
         <img src=a.png loading=\"lazy\"><p>p</p>"
    );
}

#[test]
fn set_attribute_escapes_double_quotes() {
    let rules = HtmlRules {
        set_attributes: vec![SetAttribute {
            selector: "p".into(),
            name: "title".into(),
            value: "say \"hi\"".into(),
        }],
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(rules, "<p>x</p>"),
        "<p title=\"say &quot;hi&quot;\">x</p>"
    );
}

#[test]
fn elements_are_removed_with_their_content() {
    let rules = HtmlRules {
        remove: vec![".ad".into(), "script[data-remove]".into()],
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(
            rules,
            "<p>a</p><div class=\"x ad\"><p>buy</p><img src=x></div>\
             <script data-remove>t()</script><script>keep()</script><p>b</p>"
        ),
        "<p>a</p><script>keep()</script><p>b</p>"
    );
}

#[test]
fn urls_are_rewritten_in_href_src_and_action() {
    assert_eq!(
        rewrite(
            rules_with_urls(),
            "<a href=\"http://origin.example/a?b=1#c\">a</a>\
             <img src='http://origin.example/i.png'>\
             <form action=http://origin.example/f></form>\
             <a href=\"http://origin.example\">root</a>\
             <link href=\" http://origin.example/s.css \">"
        ),
        "<a href=\"https://www.example.com/a?b=1#c\">a</a>\
         <img src=\"https://www.example.com/i.png\">\
         <form action=\"https://www.example.com/f\"></form>\
         <a href=\"https://www.example.com\">root</a>\
         <link href=\" https://www.example.com/s.css \">"
    );
}

#[test]
fn urls_are_rewritten_in_srcset_keeping_descriptors() {
    assert_eq!(
        rewrite(
            rules_with_urls(),
            "<img srcset=\"http://origin.example/a.png 1x, http://origin.example/b.png 2x,/c.png 3x\">\
             <source srcset='http://origin.example/s.jpg 480w,http://origin.example/m.jpg  800w ,  \
             http://other.example/l.jpg 1080w'>\
             <img srcset=\"http://origin.example/x,y.png 1x,http://origin.example/only.png, \
             http://origin.example/z.png\">"
        ),
        "<img srcset=\"https://www.example.com/a.png 1x, https://www.example.com/b.png 2x,/c.png 3x\">\
         <source srcset=\"https://www.example.com/s.jpg 480w,https://www.example.com/m.jpg  800w ,  \
         http://other.example/l.jpg 1080w\">\
         <img srcset=\"https://www.example.com/x,y.png 1x,https://www.example.com/only.png, \
         https://www.example.com/z.png\">"
    );
}

#[test]
fn urls_not_starting_with_the_origin_are_untouched() {
    let input = "<a href=\"/relative\">r</a><a href=\"https://origin.example/\">s</a>\
                 <a href=\"http://origin.example.evil.com/\">e</a>\
                 <a href=\"http://origin.example:8080/\">p</a>\
                 <a href=\"HTTP://ORIGIN.EXAMPLE/\">c</a>\
                 <a href=\"x http://origin.example/\">x</a>\
                 <a data-href=\"http://origin.example/\">d</a>\
                 <img srcset=\"/a.png 1x, http://origin.example.evil.com/b.png 2x\">\
                 <p>http://origin.example/ in text</p><!-- http://origin.example/ -->";
    assert_eq!(rewrite(rules_with_urls(), input), input);
}

#[test]
fn protocol_relative_urls_are_rewritten_and_stay_protocol_relative() {
    assert_eq!(
        rewrite(
            rules_with_urls(),
            "<a href=\"//origin.example/a\">a</a><script src=//origin.example></script>\
             <img srcset=\"//origin.example/s.png 1x, http://origin.example/l.png 2x\">\
             <a href=\"//origin.example.evil.com/\">e</a><a href=\"///origin.example/\">t</a>"
        ),
        "<a href=\"//www.example.com/a\">a</a><script src=\"//www.example.com\"></script>\
         <img srcset=\"//www.example.com/s.png 1x, https://www.example.com/l.png 2x\">\
         <a href=\"//origin.example.evil.com/\">e</a><a href=\"///origin.example/\">t</a>"
    );
    // A `to` without a scheme (a path on this host) is used as it is.
    assert_eq!(
        rewrite_url("//origin.example/x", ORIGIN, "/demo").as_deref(),
        Some("/demo/x")
    );
    // A `from` without a scheme has no protocol-relative form to look for.
    assert_eq!(rewrite_url("//origin.example/x", "/static", PUBLIC), None);
}

#[test]
fn a_from_ending_in_a_slash_matches_any_continuation() {
    let rules = HtmlRules {
        rewrite_urls: Some(UrlRewrite {
            from: "http://origin.example/static/".into(),
            to: "https://cdn.example/".into(),
        }),
        ..HtmlRules::default()
    };
    assert_eq!(
        rewrite(
            rules,
            "<img src=http://origin.example/static/a.png><a href=http://origin.example/x>"
        ),
        "<img src=\"https://cdn.example/a.png\"><a href=http://origin.example/x>"
    );
}

#[test]
fn srcset_candidates_are_found_as_browsers_find_them() {
    let (from, to) = (ORIGIN, PUBLIC);
    // A URL is a run of non-whitespace: commas inside it are part of it, commas ending it
    // separate candidates, and a descriptor runs to the next comma outside parentheses.
    assert_eq!(
        rewrite_srcset(
            "http://origin.example/a.png,http://origin.example/b.png",
            from,
            to
        )
        .as_deref(),
        Some("https://www.example.com/a.png,http://origin.example/b.png")
    );
    assert_eq!(
        rewrite_srcset(
            "/a 1x,, http://origin.example/b 2x(a,b), http://origin.example",
            from,
            to
        )
        .as_deref(),
        Some("/a 1x,, https://www.example.com/b 2x(a,b), https://www.example.com")
    );
    assert_eq!(rewrite_srcset("/a 1x, /b 2x", from, to), None);
    assert_eq!(rewrite_srcset("", from, to), None);
    assert_eq!(
        rewrite_url("\thttp://origin.example#top ", from, to).as_deref(),
        Some("\thttps://www.example.com#top ")
    );
    assert_eq!(rewrite_url("http://origin.examples/", from, to), None);
}

#[test]
fn rules_apply_in_the_documented_order() {
    let rules = HtmlRules {
        set_attributes: vec![SetAttribute {
            selector: "a.fixed".into(),
            name: "href".into(),
            value: "http://origin.example/set".into(),
        }],
        inserts: vec![
            insert(".ad", Position::Before, "<i>before</i>"),
            insert(".ad", Position::After, "<i>after</i>"),
            insert(".ad", Position::Prepend, "<i>gone</i>"),
        ],
        remove: vec![".ad".into()],
        ..rules_with_urls()
    };
    // URL rewriting runs before set_attributes, whose value stays as given.
    assert_eq!(
        rewrite(
            rules,
            "<a class=fixed href=http://origin.example/x>x</a><p class=ad>ad</p>"
        ),
        "<a class=fixed href=\"http://origin.example/set\">x</a><i>before</i><i>after</i>"
    );
}

#[test]
fn a_rewritten_page_is_as_expected() {
    let out = rewrite(site_rules(), PAGE);
    for expected in [
        "<script src=\"/rum.js\"></script></head>",
        "<BODY class=page><div class=\"banner\">Ünïcode ✓</div>",
        "<link rel=\"stylesheet\" href=\"https://www.example.com/style.css\">",
        "<a href=\"https://www.example.com/\">Start</a>",
        "<a href='/relative'>Rel</a>",
        "<a HREF=\"https://www.example.com/x?y=1&amp;z=2\" target=_blank rel=\"noopener\">Ext</a>",
        "<!-- before main --><main id=\"main\">",
        "</main><!-- after main -->",
        "srcset=\"https://www.example.com/a-2x.png 2x, /a-3x.png 3x\"",
        "srcset=\"https://www.example.com/s.webp 480w, https://www.example.com/l.webp 1080w\"",
        "<form action=\"https://www.example.com/search\" method=get>",
        "<!-- a comment with <tags> and http://origin.example/ -->",
        "<textarea><p>not a tag</p> http://origin.example/</textarea>",
        "<a href=\"https://www.example.com/svg\">",
        "<a href=\"http://origin.example.evil.com/\">not ours</a>",
        "<title>Grüße – Ünïcödé 日本語 🎉</title>",
        "ümlauts, ½ and 中文.</p>",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    for gone in ["tracker.js", "Buy", "data-track"] {
        assert!(!out.contains(gone), "{gone:?} left in\n{out}");
    }
}

#[test]
fn non_ascii_text_is_untouched() {
    let input = "<p>Grüße, 日本語, emoji 🎉, RTL עברית, combining e\u{301}</p>";
    assert_eq!(rewrite(rules_with_urls(), input), input);
    assert_eq!(rewrite(site_rules(), input), input);
}

#[test]
fn bytes_that_are_not_utf8_pass_through_untouched() {
    let input: &[u8] = b"<p title=\"\xff\xfe\">caf\xe9 \xc3</p><a href=/x title=\"\xe9\">x</a>";
    let out = run(&mut stage(idle_rules()), input, &[], false).unwrap();
    assert_eq!(out, input);
    // A rewritten tag keeps the raw bytes of the attributes it does not change.
    let input: &[u8] = b"<a title=\"\xe9\" href=\"http://origin.example/\xe9\">\xff</a>";
    let out = run(
        &mut stage(rules_with_urls()),
        input,
        &every_byte(input),
        true,
    )
    .unwrap();
    assert!(
        out.starts_with(b"<a title=\"\xe9\" href=\"https://www.example.com/"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(out.ends_with(b"\">\xff</a>"));
}

#[test]
fn without_rules_the_page_is_unchanged() {
    assert_eq!(rewrite(HtmlRules::default(), PAGE), PAGE);
    assert_eq!(rewrite(idle_rules(), PAGE), PAGE);
}

#[test]
fn an_invalid_selector_is_an_error_naming_it() {
    for (rules, selector) in [
        (
            HtmlRules {
                remove: vec!["div >".into()],
                ..HtmlRules::default()
            },
            "div >",
        ),
        (
            HtmlRules {
                inserts: vec![insert("p:hover", Position::Before, "x")],
                ..HtmlRules::default()
            },
            "p:hover",
        ),
        (
            HtmlRules {
                set_attributes: vec![SetAttribute {
                    selector: "[".into(),
                    name: "a".into(),
                    value: "b".into(),
                }],
                ..HtmlRules::default()
            },
            "[",
        ),
        (
            HtmlRules {
                remove_attributes: vec![RemoveAttribute {
                    selector: "".into(),
                    name: "a".into(),
                }],
                ..HtmlRules::default()
            },
            "",
        ),
    ] {
        let err = HtmlRewrite::new(rules).err().expect("an error");
        assert_eq!(err.stage, "html");
        assert!(
            err.reason.contains(&format!("{selector:?}")),
            "{}",
            err.reason
        );
        assert!(err.reason.contains("selector"), "{}", err.reason);
    }
    let err = HtmlRewrite::new(HtmlRules {
        remove: vec!["p:hover".into()],
        ..HtmlRules::default()
    })
    .err()
    .unwrap();
    // lol_html's own reason is part of it.
    assert!(
        err.reason.contains("Unsupported pseudo-class"),
        "{}",
        err.reason
    );
}

#[test]
fn bad_attribute_names_and_limits_are_errors() {
    let err = HtmlRewrite::new(HtmlRules {
        set_attributes: vec![SetAttribute {
            selector: "p".into(),
            name: "a=b".into(),
            value: "c".into(),
        }],
        ..HtmlRules::default()
    })
    .err()
    .unwrap();
    assert!(err.reason.contains("\"a=b\""), "{}", err.reason);
    let err = HtmlRewrite::new(HtmlRules {
        memory_limit: 0,
        ..HtmlRules::default()
    })
    .err()
    .unwrap();
    assert!(err.reason.contains("memory_limit"), "{}", err.reason);
}

fn huge_attribute(len: usize) -> Vec<u8> {
    let mut doc = b"<html><body><p>before</p><img alt=\"".to_vec();
    doc.extend(std::iter::repeat_n(b'x', len));
    doc.extend_from_slice(b"\" src=/a.png><p>after</p></body></html>");
    doc
}

fn assert_memory_error(result: Result<Vec<u8>, TransformError>, limit: usize) {
    let err = result.expect_err("memory limit exceeded");
    assert_eq!(err.stage, "html");
    assert!(
        err.reason
            .contains(&format!("HTML memory limit of {limit} bytes exceeded")),
        "{}",
        err.reason
    );
}

#[test]
fn a_tag_longer_than_the_memory_limit_is_an_error_however_split() {
    let limit = 4096;
    let rules = HtmlRules {
        memory_limit: limit,
        ..rules_with_urls()
    };
    let input = huge_attribute(20_000);
    let cuts: Vec<usize> = (1..input.len()).step_by(1000).collect();
    for (cuts, flush) in [
        (vec![], false),
        (cuts, true),
        (vec![40], false),
        (every_byte(&input), true),
    ] {
        assert_memory_error(run(&mut stage(rules.clone()), &input, &cuts, flush), limit);
    }
}

#[test]
fn an_unclosed_tag_exceeding_the_memory_limit_is_an_error() {
    let limit = 1000;
    let mut input = b"<p>text</p><a href=/x ".to_vec();
    input.extend(std::iter::repeat_n(b"a=b ".as_slice(), 2000).flatten());
    for cuts in [vec![], every_byte(&input)] {
        let rules = HtmlRules {
            memory_limit: limit,
            remove: vec!["a".into()],
            ..HtmlRules::default()
        };
        assert_memory_error(run(&mut stage(rules), &input, &cuts, true), limit);
    }
}

#[test]
fn tags_well_under_the_memory_limit_pass_however_split() {
    let rules = HtmlRules {
        memory_limit: 64 * 1024,
        ..rules_with_urls()
    };
    let input = huge_attribute(20_000);
    let whole = run(&mut stage(rules.clone()), &input, &[], false).unwrap();
    assert_eq!(whole, input);
    for cuts in [vec![40], (1..input.len()).step_by(777).collect()] {
        assert_eq!(
            run(&mut stage(rules.clone()), &input, &cuts, true).unwrap(),
            whole
        );
    }
}

#[test]
fn a_large_chunk_after_a_held_tag_fits_the_limit() {
    // The chunk is written to lol_html in slices, so its size does not add to the held tag.
    let rules = HtmlRules {
        memory_limit: 64 * 1024,
        ..rules_with_urls()
    };
    let mut input = b"<p>text</p><a href=\"http://origin.example/\">".to_vec();
    let cut = input.len() - 10;
    while input.len() < 1 << 20 {
        input.extend_from_slice("<p>Grüße <b>bold</b> text</p>\n".as_bytes());
    }
    let out = run(&mut stage(rules), &input, &[cut], true).unwrap();
    assert!(out.starts_with(b"<p>text</p><a href=\"https://www.example.com/\">"));
    assert_eq!(out.len(), input.len() + PUBLIC.len() - ORIGIN.len());
}

#[test]
fn elements_left_open_count_against_the_limit_until_closed() {
    let rules = || HtmlRules {
        memory_limit: 64 * 1024,
        ..rules_with_urls()
    };
    let list = |item: &str| format!("<ul>{}</ul>", item.repeat(2000)).repeat(10);
    // Closed items leave lol_html's open-element stack at once, and each list empties it.
    let closed = list("<li>x</li>");
    assert_eq!(rewrite(rules(), &closed), closed);
    // Items whose end tag is omitted stay on it until the list's end tag.
    let open = list("<li>x");
    let err = run(&mut stage(rules()), open.as_bytes(), &[], false).unwrap_err();
    assert!(err.reason.contains("memory limit"), "{}", err.reason);
    let small_lists = format!("<ul>{}</ul>", "<li>x".repeat(100)).repeat(200);
    assert_eq!(rewrite(rules(), &small_lists), small_lists);
}

#[test]
fn tags_no_rule_can_match_are_not_buffered() {
    // With no rule, lol_html only scans for tags: a long tag streams through.
    let input = huge_attribute(100_000);
    let rules = HtmlRules {
        memory_limit: 4096,
        ..HtmlRules::default()
    };
    let out = run(&mut stage(rules), &input, &every_byte(&input), true).unwrap();
    assert_eq!(out, input);
}

#[test]
fn calls_after_an_error_return_errors() {
    let limit = 1024;
    let rules = HtmlRules {
        memory_limit: limit,
        ..rules_with_urls()
    };
    let mut html = stage(rules);
    let mut out = Sink::new();
    let first = html
        .push(Bytes::from(huge_attribute(10_000)), &mut out)
        .unwrap_err();
    assert!(out.is_empty() || concat(&out).starts_with(b"<html>"));
    assert_eq!(
        html.push(Bytes::from_static(b"<p>"), &mut out),
        Err(first.clone())
    );
    assert_eq!(html.flush(&mut out), Err(first.clone()));
    assert_eq!(html.finish(&mut out), Err(first.clone()));
    assert_eq!(html.finish(&mut out), Err(first));
}

#[test]
fn an_ambiguous_document_is_an_error_not_a_guess() {
    let input = "<select><xmp><script>alert(1)</script></xmp></select>";
    let err = run(&mut stage(rules_with_urls()), input.as_bytes(), &[], false).unwrap_err();
    assert!(err.reason.contains("ambiguous"), "{}", err.reason);
}

#[test]
fn push_after_finish_is_an_error() {
    let mut html = stage(site_rules());
    let mut out = Sink::new();
    html.push(Bytes::from_static(b"<p>x</p>"), &mut out)
        .unwrap();
    html.finish(&mut out).unwrap();
    assert!(html.push(Bytes::from_static(b"<p>"), &mut out).is_err());
    html.flush(&mut out).unwrap();
    html.finish(&mut out).unwrap();
    assert_eq!(concat(&out), b"<p>x</p>");
}

#[test]
fn flush_emits_all_but_an_unfinished_tag() {
    let mut html = stage(site_rules());
    let mut out = Sink::new();
    let head = "<html><head><title>Grüße</title></head><body><p>Some text, still runn";
    html.push(Bytes::from(head), &mut out).unwrap();
    html.flush(&mut out).unwrap();
    // The text up to the end of the input is out, the insert included.
    assert_eq!(
        String::from_utf8(concat(&out)).unwrap(),
        "<html><head><title>Grüße</title><script src=\"/rum.js\"></script></head>\
         <body><div class=\"banner\">Ünïcode ✓</div><p>Some text, still runn"
    );
    // An unfinished tag a rule may change is held until its `>`.
    let mut out = Sink::new();
    html.push(Bytes::from("ing.</p><a href=\"http://origin.ex"), &mut out)
        .unwrap();
    html.flush(&mut out).unwrap();
    assert_eq!(concat(&out), b"ing.</p>");
    let mut out = Sink::new();
    html.push(Bytes::from("ample/\">"), &mut out).unwrap();
    assert_eq!(concat(&out), b"<a href=\"https://www.example.com/\">");
}

#[test]
fn the_page_is_split_invariant_for_one_byte_chunks() {
    for rules in [site_rules(), idle_rules(), HtmlRules::default()] {
        let whole = run(&mut stage(rules.clone()), PAGE.as_bytes(), &[], false).unwrap();
        for flush in [false, true] {
            let split = run(
                &mut stage(rules.clone()),
                PAGE.as_bytes(),
                &every_byte(PAGE.as_bytes()),
                flush,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(split).unwrap(),
                String::from_utf8(whole.clone()).unwrap()
            );
        }
    }
}

/// Variants of a realistic page: the page above, a small one, and one assembled from
/// fragments of it (every split of which must also give the same output).
fn documents() -> Vec<String> {
    let small = "<!doctype html><html><head><title>t</title></head>\
                 <body><p class=ad>ad</p><a href=http://origin.example/a>a</a></body></html>";
    let no_head = "<p>Fragment with ümlauts <img srcset='http://origin.example/a 1x'> and \
                   <script>x = '<a href=http://origin.example/>';</script></p>";
    vec![PAGE.to_string(), small.to_string(), no_head.to_string()]
}

const FRAGMENTS: &[&str] = &[
    "<!DOCTYPE html>",
    "<html lang=en>",
    "<head>",
    "</head>",
    "<body class=x data-track=1>",
    "</body>",
    "<title>Grüße 🎉</title>",
    "<meta charset=utf-8>",
    "<p>",
    "</p>",
    "text ",
    "ümlaut ",
    "日本語 ",
    "&amp; &lt; ",
    "<a href=\"http://origin.example/p?q=1\">",
    "<a href='/rel' target=_blank>",
    "</a>",
    "<img src=http://origin.example/i.png srcset=\"http://origin.example/i2.png 2x, /i3.png 3x\">",
    "<form action=http://origin.example/f>",
    "</form>",
    "<div class=\"ad\">",
    "<div id=main>",
    "</div>",
    "<!-- comment <p> -->",
    "<script>if (a<b) { s = \"</div>\" }</script>",
    "<script data-remove>x()</script>",
    "<style>p > a { color: red }</style>",
    "<textarea><b>raw</b></textarea>",
    "<br/>",
    "<svg><path d='M0 0'/></svg>",
    "<ul><li>one<li>two</ul>",
];

fn fragment_document() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..40)
        .prop_map(|parts| parts.concat())
}

fn assert_split_invariant(
    rules: &HtmlRules,
    input: &[u8],
    cuts: &[usize],
    flush_each: bool,
) -> Result<(), TestCaseError> {
    let whole = run(&mut stage(rules.clone()), input, &[], false);
    let split = run(&mut stage(rules.clone()), input, cuts, flush_each);
    prop_assert_eq!(whole, split);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn realistic_pages_are_split_invariant(
        doc in 0usize..3,
        cuts in proptest::collection::vec(0usize..PAGE.len(), 0..40),
        flush_each in any::<bool>(),
    ) {
        let input = documents()[doc].clone().into_bytes();
        assert_split_invariant(&site_rules(), &input, &cuts, flush_each)?;
    }

    #[test]
    fn realistic_pages_are_split_invariant_in_runs_of_one_byte_chunks(
        doc in 0usize..3,
        start in 0usize..PAGE.len(),
        len in 0usize..200,
        flush_each in any::<bool>(),
    ) {
        let input = documents()[doc].clone().into_bytes();
        let cuts: Vec<usize> = (start..start + len).collect();
        assert_split_invariant(&site_rules(), &input, &cuts, flush_each)?;
    }

    #[test]
    fn assembled_documents_are_split_invariant(
        input in fragment_document(),
        cuts in proptest::collection::vec(0usize..2000, 0..30),
        one_byte in any::<bool>(),
        flush_each in any::<bool>(),
    ) {
        let input = input.into_bytes();
        let cuts = if one_byte { every_byte(&input) } else { cuts };
        assert_split_invariant(&site_rules(), &input, &cuts, flush_each)?;
    }

    #[test]
    fn rules_that_match_nothing_change_nothing(
        doc in proptest::option::of(0usize..3),
        assembled in fragment_document(),
        cuts in proptest::collection::vec(0usize..PAGE.len(), 0..40),
        flush_each in any::<bool>(),
    ) {
        let input = match doc {
            Some(doc) => documents()[doc].clone(),
            None => assembled,
        }
        .into_bytes();
        for rules in [idle_rules(), HtmlRules::default()] {
            let out = run(&mut stage(rules), &input, &cuts, flush_each);
            prop_assert_eq!(out.as_deref(), Ok(&input[..]));
        }
    }
}
