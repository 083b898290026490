//! Macros for spacedrive-sdk: `#[extension]` (writes `plugin_init` and the ABI's exports),
//! `#[query]`, `#[action]`, `#[job]` (write a handler's export and the metadata its registration
//! carries: JSON Schemas derived from its Rust types) and `#[derive(JsonSchema)]`.
//! Written for syn 1 and Rust 1.63 (Debian's toolchain).

extern crate proc_macro;

use proc_macro::TokenStream;
use proc_macro2::{Group, Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Fields, FnArg, ItemFn, Lit, Meta, NestedMeta, PathArguments, ReturnType, Token, Type};

// -------------------------------------------------------------------------------------------
// attribute arguments: `description = "…", library_scoped, input = Type, output = Type, params = Type`

#[derive(Default)]
struct HandlerArgs {
    description: Option<String>,
    library_scoped: bool,
    input: Option<Type>,
    output: Option<Type>,
    params: Option<Type>,
}

fn parse_handler_args(attr: TokenStream) -> syn::Result<HandlerArgs> {
    let mut out = HandlerArgs::default();
    // `key = value` pairs where a value may be a type, so parsed by hand rather than as Meta.
    let parser = Punctuated::<HandlerArg, Token![,]>::parse_terminated;
    for arg in parser.parse(attr)? {
        match arg.key.to_string().as_str() {
            "description" => out.description = Some(arg.string()?),
            "library_scoped" => out.library_scoped = arg.value.is_none() || arg.string()? == "true",
            "input" => out.input = Some(arg.ty()?),
            "output" => out.output = Some(arg.ty()?),
            "params" => out.params = Some(arg.ty()?),
            other => return Err(syn::Error::new(arg.key.span(), format!("unknown argument '{}' (description, library_scoped, input, output, params)", other))),
        }
    }
    Ok(out)
}

struct HandlerArg {
    key: syn::Ident,
    value: Option<TokenStream2>,
}

impl syn::parse::Parse for HandlerArg {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let key: syn::Ident = input.parse()?;
        if input.peek(Token![=]) {
            let _: Token![=] = input.parse()?;
            let mut value = TokenStream2::new();
            while !input.is_empty() && !input.peek(Token![,]) {
                let tt: TokenTree = input.parse()?;
                value.extend(std::iter::once(tt));
            }
            Ok(HandlerArg { key, value: Some(value) })
        } else {
            Ok(HandlerArg { key, value: None })
        }
    }
}

impl HandlerArg {
    fn string(&self) -> syn::Result<String> {
        let v = self.value.clone().ok_or_else(|| syn::Error::new(self.key.span(), "expected a value"))?;
        match syn::parse2::<Lit>(v)? {
            Lit::Str(s) => Ok(s.value()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new(other.span(), "expected a string")),
        }
    }
    fn ty(&self) -> syn::Result<Type> {
        syn::parse2(self.value.clone().ok_or_else(|| syn::Error::new(self.key.span(), "expected a type"))?)
    }
}

/// `Result<T>` / `Result<T, E>` → `T`.
fn ok_type(ret: &ReturnType) -> Option<Type> {
    if let ReturnType::Type(_, ty) = ret {
        if let Type::Path(p) = &**ty {
            let last = p.path.segments.last()?;
            if last.ident == "Result" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    if let Some(syn::GenericArgument::Type(t)) = args.args.first() {
                        return Some(t.clone());
                    }
                }
            }
        }
    }
    None
}

fn is_raw(f: &ItemFn) -> bool {
    f.sig.abi.is_some()
}

fn has_no_mangle(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path.is_ident("no_mangle"))
}

fn meta_ident(name: &syn::Ident) -> syn::Ident {
    format_ident!("__sd_meta_{}", name)
}

fn opt_schema(ty: Option<&Type>) -> TokenStream2 {
    match ty {
        Some(t) => quote! { ::spacedrive_sdk::context::schema_of::<#t>() },
        None => quote! { ::core::option::Option::None },
    }
}

fn opt_str(s: &Option<String>) -> TokenStream2 {
    match s {
        Some(s) => quote! { ::core::option::Option::Some(#s) },
        None => quote! { ::core::option::Option::None },
    }
}

/// The export of a query or action, and its metadata function.
fn operation(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match parse_handler_args(attr) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = parse_macro_input!(item as ItemFn);
    let name = f.sig.ident.clone();
    let meta = meta_ident(&name);
    let description = opt_str(&args.description);
    let library_scoped = args.library_scoped;

    if is_raw(&f) {
        // The design's form: `extern "C" fn name(ptr: u32, len: u32) -> u64`, kept as written;
        // the types for the schemas come from `input = …, output = …`.
        let input = opt_schema(args.input.as_ref());
        let output = opt_schema(args.output.as_ref());
        let no_mangle = if has_no_mangle(&f.attrs) { quote! {} } else { quote! { #[no_mangle] } };
        return quote! {
            #no_mangle
            #f
            #[doc(hidden)]
            #[allow(non_snake_case)]
            pub fn #meta() -> ::spacedrive_sdk::HandlerMeta {
                ::spacedrive_sdk::HandlerMeta { description: #description, input_schema: #input, output_schema: #output, params_schema: None, library_scoped: #library_scoped }
            }
        }
        .into();
    }

    // The typed form: `fn name(ctx: &ExtensionContext, input: In) -> Result<Out>`.
    let inner = format_ident!("__sd_impl_{}", name);
    let mut imp = f.clone();
    imp.sig.ident = inner.clone();
    imp.vis = syn::Visibility::Inherited;
    let inputs: Vec<&FnArg> = f.sig.inputs.iter().collect();
    let input_ty: Option<Type> = match inputs.get(1) {
        Some(FnArg::Typed(p)) => Some((*p.ty).clone()),
        _ => None,
    };
    if inputs.is_empty() || inputs.len() > 2 {
        return syn::Error::new(f.sig.span(), "a #[query]/#[action] handler takes (ctx: &ExtensionContext, input: T) and returns Result<U>").to_compile_error().into();
    }
    let output_ty = args.output.clone().or_else(|| ok_type(&f.sig.output));
    let input_schema = opt_schema(args.input.as_ref().or(input_ty.as_ref()));
    let output_schema = opt_schema(output_ty.as_ref());
    let call = match &input_ty {
        Some(t) => quote! { match ctx.read_input::<#t>() { Ok(input) => #inner(&ctx, input), Err(e) => Err(e) } },
        None => quote! { #inner(&ctx) },
    };
    quote! {
        #imp
        #[no_mangle]
        pub extern "C" fn #name(ptr: u32, len: u32) -> u64 {
            let ctx = ::spacedrive_sdk::ExtensionContext::from_params(ptr, len);
            let result = #call;
            ctx.respond(result)
        }
        #[doc(hidden)]
        #[allow(non_snake_case)]
        pub fn #meta() -> ::spacedrive_sdk::HandlerMeta {
            ::spacedrive_sdk::HandlerMeta { description: #description, input_schema: #input_schema, output_schema: #output_schema, params_schema: None, library_scoped: #library_scoped }
        }
    }
    .into()
}

use syn::spanned::Spanned;

/// `#[query]`: exports a query handler; its input and output types become its registered schemas.
///
/// ```ignore
/// #[query(description = "Greets someone")]
/// fn greet(ctx: &ExtensionContext, input: GreetInput) -> Result<GreetOutput> { … }
/// ```
/// or the design's raw form, `#[query(input = In, output = Out)] pub extern "C" fn h(ptr: u32, len: u32) -> u64`.
#[proc_macro_attribute]
pub fn query(attr: TokenStream, item: TokenStream) -> TokenStream {
    operation(attr, item)
}

/// `#[action]`: as `#[query]`, for an action.
#[proc_macro_attribute]
pub fn action(attr: TokenStream, item: TokenStream) -> TokenStream {
    operation(attr, item)
}

/// `#[job]`: exports a job handler; its params type becomes the registered params schema.
///
/// ```ignore
/// #[job(description = "Counts down")]
/// fn countdown(ctx: &ExtensionContext, params: CountdownParams) -> Result<u64> { …; Ok(ctx.complete(&out)) }
/// ```
/// or the design's raw form, `#[job(params = P)] pub extern "C" fn execute_x(ptr: u32, len: u32) -> u64`.
#[proc_macro_attribute]
pub fn job(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match parse_handler_args(attr) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = parse_macro_input!(item as ItemFn);
    let name = f.sig.ident.clone();
    let meta = meta_ident(&name);
    let description = opt_str(&args.description);
    if is_raw(&f) {
        let params = opt_schema(args.params.as_ref());
        let no_mangle = if has_no_mangle(&f.attrs) { quote! {} } else { quote! { #[no_mangle] } };
        return quote! {
            #no_mangle
            #f
            #[doc(hidden)]
            #[allow(non_snake_case)]
            pub fn #meta() -> ::spacedrive_sdk::HandlerMeta {
                ::spacedrive_sdk::HandlerMeta { description: #description, input_schema: None, output_schema: None, params_schema: #params, library_scoped: false }
            }
        }
        .into();
    }
    let inner = format_ident!("__sd_impl_{}", name);
    let mut imp = f.clone();
    imp.sig.ident = inner.clone();
    imp.vis = syn::Visibility::Inherited;
    let params_ty: Option<Type> = match f.sig.inputs.iter().nth(1) {
        Some(FnArg::Typed(p)) => Some((*p.ty).clone()),
        _ => None,
    };
    let params_schema = opt_schema(args.params.as_ref().or(params_ty.as_ref()));
    let call = match &params_ty {
        Some(t) => quote! { match ctx.job_params::<#t>() { Ok(params) => ::spacedrive_sdk::context::JobReturn::into_packed(#inner(&ctx, params), &ctx), Err(e) => ctx.job_failed(e, false) } },
        None => quote! { ::spacedrive_sdk::context::JobReturn::into_packed(#inner(&ctx), &ctx) },
    };
    quote! {
        #imp
        #[no_mangle]
        pub extern "C" fn #name(ptr: u32, len: u32) -> u64 {
            let ctx = ::spacedrive_sdk::ExtensionContext::from_job_params(ptr, len);
            #call
        }
        #[doc(hidden)]
        #[allow(non_snake_case)]
        pub fn #meta() -> ::spacedrive_sdk::HandlerMeta {
            ::spacedrive_sdk::HandlerMeta { description: #description, input_schema: None, output_schema: None, params_schema: #params_schema, library_scoped: false }
        }
    }
    .into()
}

// -------------------------------------------------------------------------------------------
// #[extension]

/// Rewrites `register_query("n", "export")` into `register_query_with("n", "export",
/// __sd_meta_export())` (and `register_action`, `register_job(JobRegistration { export_fn:
/// "export", .. })`), so the registrations written as the design writes them carry the schemas
/// `#[query]`/`#[action]`/`#[job]` derived.
fn rewrite_registrations(tokens: TokenStream2) -> TokenStream2 {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out: Vec<TokenTree> = Vec::with_capacity(trees.len());
    let mut i = 0;
    while i < trees.len() {
        let tt = &trees[i];
        if let (TokenTree::Ident(id), Some(TokenTree::Group(g))) = (tt, trees.get(i + 1)) {
            let which = id.to_string();
            if (which == "register_query" || which == "register_action" || which == "register_job") && g.delimiter() == proc_macro2::Delimiter::Parenthesis {
                if let Some(export) = export_of(&which, g.stream()) {
                    let new_name = proc_macro2::Ident::new(&format!("{}_with", which), id.span());
                    let meta = format_ident!("__sd_meta_{}", export);
                    let inner = rewrite_registrations(g.stream());
                    let mut group = Group::new(proc_macro2::Delimiter::Parenthesis, quote! { #inner, #meta() });
                    group.set_span(g.span());
                    out.push(TokenTree::Ident(new_name));
                    out.push(TokenTree::Group(group));
                    i += 2;
                    continue;
                }
            }
        }
        match tt {
            TokenTree::Group(g) => {
                let mut ng = Group::new(g.delimiter(), rewrite_registrations(g.stream()));
                ng.set_span(g.span());
                out.push(TokenTree::Group(ng));
            }
            other => out.push(other.clone()),
        }
        i += 1;
    }
    out.into_iter().collect()
}

/// The export a registration names with a string literal: the second argument of
/// `register_query`/`register_action`, the `export_fn` field of a `JobRegistration`.
fn export_of(which: &str, args: TokenStream2) -> Option<String> {
    let trees: Vec<TokenTree> = args.into_iter().collect();
    let lit_str = |t: &TokenTree| -> Option<String> {
        if let TokenTree::Literal(l) = t {
            if let Ok(Lit::Str(s)) = syn::parse2::<Lit>(l.to_token_stream()) {
                return Some(s.value());
            }
        }
        None
    };
    if which == "register_job" {
        // JobRegistration { name: "…", export_fn: "…", resumable: … }
        let body = trees.iter().find_map(|t| match t {
            TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => Some(g.stream()),
            _ => None,
        })?;
        let fields: Vec<TokenTree> = body.into_iter().collect();
        for w in fields.windows(3) {
            if let (TokenTree::Ident(k), TokenTree::Punct(p)) = (&w[0], &w[1]) {
                if k == "export_fn" && p.as_char() == ':' {
                    return lit_str(&w[2]);
                }
            }
        }
        return None;
    }
    // ("name", "export") — exactly a literal, a comma, a literal.
    if trees.len() >= 3 {
        if let TokenTree::Punct(p) = &trees[1] {
            if p.as_char() == ',' {
                return lit_str(&trees[2]);
            }
        }
    }
    None
}

/// `#[extension]` on the design's `plugin_init`: exports `plugin_init` (with a panic hook that
/// reports panics to the host) and the ABI's `sd_abi_version`, `sd_alloc`, `sd_free`. In its
/// body `library_id` is `None` (there is no call yet), so the design's
/// `ExtensionContext::new(library_id)` reads as written, and registrations of `#[query]`,
/// `#[action]` and `#[job]` exports carry their derived schemas. The function returns `i32`
/// (0 = success) as in the design, or `Result<()>`.
#[proc_macro_attribute]
pub fn extension(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[extension] takes no arguments (the id is the manifest's)").to_compile_error().into();
    }
    let f = parse_macro_input!(item as ItemFn);
    let body = rewrite_registrations(f.block.to_token_stream());
    let returns_result = ok_type(&f.sig.output).is_some();
    let run = if returns_result {
        quote! {
            let result: ::spacedrive_sdk::Result<()> = (|| #body)();
            match result {
                Ok(()) => 0,
                Err(e) => { ::spacedrive_sdk::log(4, &format!("plugin_init failed: {}", e)); 1 }
            }
        }
    } else {
        quote! { (|| -> i32 #body)() }
    };
    quote! {
        #[no_mangle]
        pub extern "C" fn sd_abi_version() -> i32 { ::spacedrive_sdk::abi::ABI_VERSION }
        #[no_mangle]
        pub extern "C" fn sd_alloc(len: u32) -> u32 { ::spacedrive_sdk::abi::alloc_bytes(len as usize) as u32 }
        #[no_mangle]
        pub extern "C" fn sd_free(ptr: u32, len: u32) { ::spacedrive_sdk::abi::free(ptr as usize, len as usize) }
        #[no_mangle]
        pub extern "C" fn plugin_init() -> i32 {
            ::spacedrive_sdk::install_panic_hook();
            #[allow(unused_variables)]
            let library_id: ::core::option::Option<&str> = ::core::option::Option::None;
            #run
        }
    }
    .into()
}

// -------------------------------------------------------------------------------------------
// #[derive(JsonSchema)]

fn doc_of(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path.is_ident("doc"))
        .filter_map(|a| match a.parse_meta() {
            Ok(Meta::NameValue(nv)) => match nv.lit {
                Lit::Str(s) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join(" ").trim().to_string())
    }
}

/// `#[serde(...)]` words and name-values on an item.
fn serde_flags(attrs: &[Attribute]) -> (Vec<String>, Vec<(String, String)>) {
    let mut words = Vec::new();
    let mut pairs = Vec::new();
    for a in attrs.iter().filter(|a| a.path.is_ident("serde")) {
        if let Ok(Meta::List(list)) = a.parse_meta() {
            for n in list.nested {
                match n {
                    NestedMeta::Meta(Meta::Path(p)) => words.push(p.to_token_stream().to_string()),
                    NestedMeta::Meta(Meta::NameValue(nv)) => {
                        if let Lit::Str(s) = nv.lit {
                            pairs.push((nv.path.to_token_stream().to_string(), s.value()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    (words, pairs)
}

fn camel(key: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in key.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `#[schema(content_encoding = "base64", min_length = 1, default = true, …)]`: JSON Schema
/// keywords for a field (snake_case keys become the keyword's camelCase).
fn schema_keywords(attrs: &[Attribute]) -> syn::Result<Vec<TokenStream2>> {
    let mut out = Vec::new();
    for a in attrs.iter().filter(|a| a.path.is_ident("schema")) {
        if let Meta::List(list) = a.parse_meta()? {
            for n in list.nested {
                if let NestedMeta::Meta(Meta::NameValue(nv)) = n {
                    let key = camel(&nv.path.to_token_stream().to_string());
                    let value = match &nv.lit {
                        Lit::Str(s) => {
                            let v = s.value();
                            quote! { ::spacedrive_sdk::__private::serde_json::json!(#v) }
                        }
                        Lit::Int(i) => quote! { ::spacedrive_sdk::__private::serde_json::json!(#i) },
                        Lit::Float(f) => quote! { ::spacedrive_sdk::__private::serde_json::json!(#f) },
                        Lit::Bool(b) => quote! { ::spacedrive_sdk::__private::serde_json::json!(#b) },
                        other => return Err(syn::Error::new(other.span(), "expected a string, number or bool")),
                    };
                    out.push(quote! { s = ::spacedrive_sdk::schema::with(s, #key, #value); });
                } else {
                    return Err(syn::Error::new(a.span(), "expected key = value"));
                }
            }
        }
    }
    Ok(out)
}

fn rename_variant(name: &str, rule: Option<&str>) -> String {
    match rule {
        Some("lowercase") => name.to_lowercase(),
        Some("UPPERCASE") => name.to_uppercase(),
        Some("snake_case") => {
            let mut out = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            }
            out
        }
        _ => name.to_string(),
    }
}

/// `#[derive(JsonSchema)]`: a JSON Schema from a struct with named fields (an object; fields of
/// type `Option` or with `#[serde(default)]` are optional; `#[serde(deny_unknown_fields)]` closes
/// it; doc comments become descriptions; `#[schema(..)]` adds keywords), a newtype (its inner
/// type) or an enum of unit variants (an `enum` of their serde names).
#[proc_macro_derive(JsonSchema, attributes(schema))]
pub fn derive_json_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match derive(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn derive(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (container_words, container_pairs) = serde_flags(&input.attrs);
    let container_default = container_words.iter().any(|w| w == "default");
    let closed = container_words.iter().any(|w| w == "deny_unknown_fields");
    let description = doc_of(&input.attrs);
    let describe = match &description {
        Some(d) => quote! { s = ::spacedrive_sdk::schema::with(s, "description", ::spacedrive_sdk::__private::serde_json::json!(#d)); },
        None => quote! {},
    };
    let body = match &input.data {
        Data::Struct(st) => match &st.fields {
            Fields::Named(named) => {
                let mut props = Vec::new();
                for field in &named.named {
                    let (words, pairs) = serde_flags(&field.attrs);
                    if words.iter().any(|w| w == "skip" || w == "skip_deserializing" || w == "flatten") {
                        continue;
                    }
                    let key = pairs.iter().find(|(k, _)| k == "rename").map(|(_, v)| v.clone()).unwrap_or_else(|| {
                        let id = field.ident.as_ref().unwrap().to_string();
                        id.trim_start_matches("r#").to_string()
                    });
                    let ty = &field.ty;
                    // May be left out: a default, or (for outputs) skipped when none.
                    let has_default = container_default
                        || words.iter().any(|w| w == "default")
                        || pairs.iter().any(|(k, _)| k == "default" || k == "skip_serializing_if");
                    let schema_fn = if has_default { quote! { optional_schema } } else { quote! { json_schema } };
                    let keywords = schema_keywords(&field.attrs)?;
                    let field_doc = match doc_of(&field.attrs) {
                        Some(d) => quote! { s = ::spacedrive_sdk::schema::with(s, "description", ::spacedrive_sdk::__private::serde_json::json!(#d)); },
                        None => quote! {},
                    };
                    props.push(quote! {
                        {
                            let mut s = <#ty as ::spacedrive_sdk::JsonSchema>::#schema_fn();
                            #field_doc
                            #(#keywords)*
                            properties.insert(#key.to_string(), s);
                            if !#has_default && !<#ty as ::spacedrive_sdk::JsonSchema>::optional() {
                                required.push(::spacedrive_sdk::__private::serde_json::Value::String(#key.to_string()));
                            }
                        }
                    });
                }
                quote! {
                    let mut properties = ::spacedrive_sdk::__private::serde_json::Map::new();
                    let mut required: ::std::vec::Vec<::spacedrive_sdk::__private::serde_json::Value> = ::std::vec::Vec::new();
                    #(#props)*
                    let mut o = ::spacedrive_sdk::__private::serde_json::Map::new();
                    o.insert("type".to_string(), ::spacedrive_sdk::__private::serde_json::json!("object"));
                    o.insert("properties".to_string(), ::spacedrive_sdk::__private::serde_json::Value::Object(properties));
                    if !required.is_empty() {
                        o.insert("required".to_string(), ::spacedrive_sdk::__private::serde_json::Value::Array(required));
                    }
                    if #closed {
                        o.insert("additionalProperties".to_string(), ::spacedrive_sdk::__private::serde_json::Value::Bool(false));
                    }
                    let mut s = ::spacedrive_sdk::__private::serde_json::Value::Object(o);
                }
            }
            Fields::Unnamed(un) if un.unnamed.len() == 1 => {
                let ty = &un.unnamed.first().unwrap().ty;
                quote! { let mut s = <#ty as ::spacedrive_sdk::JsonSchema>::json_schema(); }
            }
            _ => return Err(syn::Error::new(name.span(), "JsonSchema derives for structs with named fields, newtypes and unit-variant enums")),
        },
        Data::Enum(en) => {
            let rule = container_pairs.iter().find(|(k, _)| k == "rename_all").map(|(_, v)| v.as_str());
            let mut values = Vec::new();
            for v in &en.variants {
                if !matches!(v.fields, Fields::Unit) {
                    return Err(syn::Error::new(v.span(), "JsonSchema derives for enums of unit variants only"));
                }
                let (_, pairs) = serde_flags(&v.attrs);
                let n = pairs.iter().find(|(k, _)| k == "rename").map(|(_, v)| v.clone()).unwrap_or_else(|| rename_variant(&v.ident.to_string(), rule));
                values.push(n);
            }
            quote! { let mut s = ::spacedrive_sdk::__private::serde_json::json!({ "type": "string", "enum": [#(#values),*] }); }
        }
        Data::Union(_) => return Err(syn::Error::new(name.span(), "JsonSchema does not derive for unions")),
    };
    Ok(quote! {
        impl #impl_generics ::spacedrive_sdk::JsonSchema for #name #ty_generics #where_clause {
            fn json_schema() -> ::spacedrive_sdk::__private::serde_json::Value {
                #body
                #describe
                s
            }
        }
    })
}
