//! The template language of the embedded emails and pages: the small part of Jinja they use,
//! with nothing to execute. Values (`{{ name }}`), conditions (`{% if name %}`, and `==`,
//! `!=`, `<`, `<=`, `>`, `>=` against a string or whole-number literal; `elif`, `else`),
//! and one level of inheritance (`{% extends "layout" %}` with `{% block name %}`).
//!
//! `shared/build.rs` parses every template with this same file, so anything else (a filter,
//! a loop, whitespace control, a comment) fails the build rather than a send. A name no value
//! answers is empty and false, as in Jinja. A page or email function carries this and the
//! template text, not a template engine (docs/performance.md, "Sizes").

use std::fmt::Write as _;

/// A value a template can show or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Str(&'a str),
    Int(u64),
    Bool(bool),
    /// Unset: shows as nothing and is false.
    None,
}

impl Value<'_> {
    fn truthy(self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(n) => n != 0,
            Value::Bool(b) => b,
            Value::None => false,
        }
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(Value::None, Value::Str)
    }
}

/// What a template's names resolve to.
pub trait Vars {
    /// The value of `name`; [`Value::None`] for a name this context does not have.
    fn var(&self, name: &str) -> Value<'_>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal<'s> {
    Str(&'s str),
    Int(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Condition<'s> {
    name: &'s str,
    compare: Option<(Op, Literal<'s>)>,
}

impl Condition<'_> {
    fn holds(&self, vars: &dyn Vars) -> bool {
        let value = vars.var(self.name);
        let Some((op, literal)) = self.compare else {
            return value.truthy();
        };
        let order = match (value, literal) {
            (Value::Str(a), Literal::Str(b)) => Some(a.cmp(b)),
            (Value::Int(a), Literal::Int(b)) => Some(a.cmp(&b)),
            // Values of different kinds are unequal and have no order, as in Jinja.
            _ => None,
        };
        match (op, order) {
            (Op::Eq, order) => order.is_some_and(|o| o.is_eq()),
            (Op::Ne, order) => !order.is_some_and(|o| o.is_eq()),
            (_, None) => false,
            (Op::Lt, Some(o)) => o.is_lt(),
            (Op::Le, Some(o)) => o.is_le(),
            (Op::Gt, Some(o)) => o.is_gt(),
            (Op::Ge, Some(o)) => o.is_ge(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<'s> {
    Text(&'s str),
    Var(&'s str),
    /// Branches in order; the first whose condition holds renders, else the `else` part.
    If(Vec<(Condition<'s>, Vec<Node<'s>>)>, Vec<Node<'s>>),
    Block(&'s str, Vec<Node<'s>>),
}

/// A parsed template, borrowing its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'s> {
    extends: Option<&'s str>,
    nodes: Vec<Node<'s>>,
}

#[derive(Debug)]
enum Tag<'s> {
    Text(&'s str),
    Var(&'s str),
    Extends(&'s str),
    Block(&'s str),
    EndBlock,
    If(Condition<'s>),
    Elif(Condition<'s>),
    Else,
    EndIf,
}

fn identifier(word: &str) -> Result<&str, String> {
    let ok = word
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(word)
    } else {
        Err(format!("`{word}` is not a name"))
    }
}

fn string_literal(word: &str) -> Option<&str> {
    let inner = word.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then_some(inner)
}

fn condition<'s>(words: &[&'s str]) -> Result<Condition<'s>, String> {
    match words {
        [name] => Ok(Condition {
            name: identifier(name)?,
            compare: None,
        }),
        [name, op, literal] => {
            let op = match *op {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                other => return Err(format!("`{other}` is not a comparison")),
            };
            let literal = match (string_literal(literal), literal.parse::<u64>()) {
                (Some(s), _) => Literal::Str(s),
                (None, Ok(n)) => Literal::Int(n),
                _ => return Err(format!("`{literal}` is not a string or number")),
            };
            Ok(Condition {
                name: identifier(name)?,
                compare: Some((op, literal)),
            })
        }
        _ => Err(format!("`{}` is not a condition", words.join(" "))),
    }
}

fn statement(inner: &str) -> Result<Tag<'_>, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["extends", path] => string_literal(path)
            .map(Tag::Extends)
            .ok_or_else(|| format!("extends takes a quoted path, not `{path}`")),
        ["block", name] => Ok(Tag::Block(identifier(name)?)),
        ["endblock"] | ["endblock", _] => Ok(Tag::EndBlock),
        ["if", rest @ ..] => Ok(Tag::If(condition(rest)?)),
        ["elif", rest @ ..] => Ok(Tag::Elif(condition(rest)?)),
        ["else"] => Ok(Tag::Else),
        ["endif"] => Ok(Tag::EndIf),
        _ => Err(format!(
            "`{{% {} %}}` is not a statement this language has",
            inner.trim()
        )),
    }
}

fn tags(source: &str) -> Result<Vec<Tag<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = source;
    while !rest.is_empty() {
        // A brace not followed by `{`, `%` or `#` (CSS has plenty) is text.
        let opening = rest
            .match_indices('{')
            .find(|(at, _)| matches!(rest.as_bytes().get(at + 1), Some(b'{' | b'%' | b'#')));
        let Some((at, _)) = opening else {
            out.push(Tag::Text(rest));
            break;
        };
        let (text, tail) = rest.split_at(at);
        if tail.starts_with("{#") {
            return Err("comments are not part of this language".into());
        }
        let (close, is_var) = if tail.starts_with("{{") {
            ("}}", true)
        } else {
            ("%}", false)
        };
        if !text.is_empty() {
            out.push(Tag::Text(text));
        }
        let end = tail
            .find(close)
            .ok_or_else(|| format!("`{}` is never closed", &tail[..2]))?;
        let inner = &tail[2..end];
        if inner.starts_with('-') || inner.ends_with('-') {
            return Err("whitespace control is not part of this language".into());
        }
        out.push(if is_var {
            Tag::Var(identifier(inner.trim())?)
        } else {
            statement(inner)?
        });
        rest = &tail[end + 2..];
    }
    Ok(out)
}

/// Builds nodes until a tag that closes the caller's construct, which it returns.
fn nodes<'s>(
    tags: &mut std::vec::IntoIter<Tag<'s>>,
    blocks_seen: &mut Vec<&'s str>,
) -> Result<(Vec<Node<'s>>, Option<Tag<'s>>), String> {
    let mut out = Vec::new();
    while let Some(tag) = tags.next() {
        match tag {
            Tag::Text(text) => out.push(Node::Text(text)),
            Tag::Var(name) => out.push(Node::Var(name)),
            Tag::Extends(_) => return Err("extends must come first".into()),
            Tag::Block(name) => {
                if blocks_seen.contains(&name) {
                    return Err(format!("block `{name}` is defined twice"));
                }
                blocks_seen.push(name);
                match nodes(tags, blocks_seen)? {
                    (body, Some(Tag::EndBlock)) => out.push(Node::Block(name, body)),
                    _ => return Err(format!("block `{name}` has no endblock")),
                }
            }
            Tag::If(first) => {
                let mut branches = Vec::new();
                let mut condition = first;
                let otherwise = loop {
                    match nodes(tags, blocks_seen)? {
                        (body, Some(Tag::Elif(next))) => {
                            branches.push((condition, body));
                            condition = next;
                        }
                        (body, Some(Tag::Else)) => {
                            branches.push((condition, body));
                            match nodes(tags, blocks_seen)? {
                                (otherwise, Some(Tag::EndIf)) => break otherwise,
                                _ => return Err("else has no endif".into()),
                            }
                        }
                        (body, Some(Tag::EndIf)) => {
                            branches.push((condition, body));
                            break Vec::new();
                        }
                        _ => return Err("if has no endif".into()),
                    }
                };
                out.push(Node::If(branches, otherwise));
            }
            closing @ (Tag::EndBlock | Tag::Elif(_) | Tag::Else | Tag::EndIf) => {
                return Ok((out, Some(closing)));
            }
        }
    }
    Ok((out, None))
}

/// Parses a template. As in Jinja, one newline at the very end of the source is not part of
/// the template.
pub fn parse(source: &str) -> Result<Template<'_>, String> {
    let source = source
        .strip_suffix("\r\n")
        .or_else(|| source.strip_suffix('\n'))
        .unwrap_or(source);
    let mut all = tags(source)?;
    let first_tag = all
        .iter()
        .position(|t| !matches!(t, Tag::Text(text) if text.trim().is_empty()));
    let extends = match first_tag.map(|at| &all[at]) {
        Some(Tag::Extends(path)) => {
            let path = *path;
            all.drain(..=first_tag.unwrap_or_default());
            Some(path)
        }
        _ => None,
    };
    let (nodes, stray) = nodes(&mut all.into_iter(), &mut Vec::new())?;
    if let Some(tag) = stray {
        return Err(format!("{tag:?} closes nothing"));
    }
    // A child template is its blocks: what it has outside them would never show.
    let only_blocks = nodes.iter().all(|n| match n {
        Node::Block(..) => true,
        Node::Text(text) => text.trim().is_empty(),
        _ => false,
    });
    if extends.is_some() && !only_blocks {
        return Err("a template that extends another may only define blocks".into());
    }
    Ok(Template { extends, nodes })
}

impl<'s> Template<'s> {
    /// The template this one extends, if any.
    pub fn extends(&self) -> Option<&'s str> {
        self.extends
    }

    /// Every name the template shows or tests, once each, in order of first use.
    pub fn names(&self) -> Vec<&'s str> {
        fn walk<'s>(nodes: &[Node<'s>], out: &mut Vec<&'s str>) {
            for node in nodes {
                match node {
                    Node::Text(_) => {}
                    Node::Var(name) => out.push(name),
                    Node::If(branches, otherwise) => {
                        for (condition, body) in branches {
                            out.push(condition.name);
                            walk(body, out);
                        }
                        walk(otherwise, out);
                    }
                    Node::Block(_, body) => walk(body, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        let mut seen = Vec::new();
        out.retain(|name| {
            let first = !seen.contains(name);
            seen.push(*name);
            first
        });
        out
    }

    fn block(&self, name: &str) -> Option<&[Node<'s>]> {
        self.nodes.iter().find_map(|n| match n {
            Node::Block(b, body) if *b == name => Some(body.as_slice()),
            _ => None,
        })
    }

    /// Renders the template into `out`. `layout` is the parsed template it extends (a
    /// template that extends none takes `None`); `html` escapes every value for HTML text
    /// and quoted attributes.
    pub fn render(
        &self,
        layout: Option<&Template<'_>>,
        vars: &dyn Vars,
        html: bool,
        out: &mut String,
    ) -> Result<(), String> {
        match (self.extends, layout) {
            (None, None) => write_nodes(&self.nodes, None, vars, html, out),
            (Some(_), Some(layout)) if layout.extends.is_none() => {
                write_nodes(&layout.nodes, Some(self), vars, html, out)
            }
            (Some(path), _) => Err(format!("extends {path}: its layout is not given")),
            (None, Some(_)) => Err("a layout was given to a template that extends none".into()),
        }
    }
}

fn write_nodes(
    nodes: &[Node<'_>],
    child: Option<&Template<'_>>,
    vars: &dyn Vars,
    html: bool,
    out: &mut String,
) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Var(name) => match vars.var(name) {
                Value::Str(s) if html => escape_into(s, out),
                Value::Str(s) => out.push_str(s),
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Value::None => {}
            },
            Node::If(branches, otherwise) => {
                let body = branches
                    .iter()
                    .find(|(condition, _)| condition.holds(vars))
                    .map_or(otherwise.as_slice(), |(_, body)| body.as_slice());
                write_nodes(body, child, vars, html, out)?;
            }
            Node::Block(name, default) => {
                let body = child.and_then(|c| c.block(name)).unwrap_or(default);
                write_nodes(body, None, vars, html, out)?;
            }
        }
    }
    Ok(())
}

/// The five characters HTML text and quoted attributes need escaped; `/` is left alone so
/// a link reads as a link in the plain-URL fallback and to link checkers.
pub(crate) fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(&'static [(&'static str, Value<'static>)]);

    impl Vars for Map {
        fn var(&self, name: &str) -> Value<'_> {
            self.0
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Value::None, |(_, v)| *v)
        }
    }

    fn show(source: &str, vars: &Map) -> String {
        let mut out = String::new();
        parse(source)
            .unwrap()
            .render(None, vars, true, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn anything_beyond_the_language_is_refused_when_parsed() {
        for source in [
            "{{ name|upper }}",
            "{{ a.b }}",
            "{% for x in xs %}{% endfor %}",
            "{# a comment #}",
            "{%- if a %}{% endif %}",
            "{{ a -}}",
            "{% if a and b %}{% endif %}",
            "{% if a == b %}{% endif %}",
            "{% if a %}",
            "{% endif %}",
            "{% block a %}",
            "{% block a %}{% endblock %}{% block a %}{% endblock %}",
            "{{ open",
            "{% extends \"layout.html\" %}stray text",
            "text {% extends \"layout.html\" %}",
        ] {
            assert!(parse(source).is_err(), "{source} parsed");
        }
    }

    #[test]
    fn conditions_compare_like_kinds_and_treat_unset_as_false() {
        let vars = Map(&[
            ("state", Value::Str("done")),
            ("n", Value::Int(2)),
            ("empty", Value::Str("")),
            ("yes", Value::Bool(true)),
        ]);
        let cases = [
            ("{% if state == \"done\" %}y{% else %}n{% endif %}", "y"),
            ("{% if state != \"done\" %}y{% else %}n{% endif %}", "n"),
            ("{% if n >= 2 %}y{% elif n == 1 %}one{% endif %}", "y"),
            ("{% if n > 2 %}y{% elif n < 3 %}less{% endif %}", "less"),
            ("{% if n == \"2\" %}y{% else %}n{% endif %}", "n"),
            ("{% if n != \"2\" %}y{% else %}n{% endif %}", "y"),
            ("{% if missing >= 0 %}y{% else %}n{% endif %}", "n"),
            ("{% if empty %}y{% else %}n{% endif %}", "n"),
            ("{% if yes %}{{ yes }}{% endif %}", "true"),
            ("[{{ missing }}]", "[]"),
        ];
        for (source, expected) in cases {
            assert_eq!(show(source, &vars), expected, "{source}");
        }
    }

    #[test]
    fn a_lone_brace_is_text_and_values_are_escaped_in_html() {
        let vars = Map(&[("v", Value::Str("<a href='x'>&\"</a>"))]);
        assert_eq!(
            show("a { b: c; } {{ v }}\n", &vars),
            "a { b: c; } &lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_child_fills_its_layouts_blocks_and_keeps_the_rest() {
        let layout =
            parse("<t>{% block title %}default{% endblock %}</t>{% block body %}{% endblock %}")
                .unwrap();
        let child = parse("{% extends \"l\" %}\n{% block body %}{{ v }}{% endblock %}\n").unwrap();
        let mut out = String::new();
        child
            .render(
                Some(&layout),
                &Map(&[("v", Value::Int(7))]),
                false,
                &mut out,
            )
            .unwrap();
        assert_eq!(out, "<t>default</t>7");
        assert!(child.render(None, &Map(&[]), false, &mut out).is_err());
    }
}
