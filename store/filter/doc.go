// Package filter implements the payload filter language of the /v1 API and
// the in-memory payload index that evaluates it during filtered searches.
//
// # The language
//
// A filter is a JSON object (at most MaxFilterBytes, nested at most
// MaxFilterDepth deep) over JSON object payloads, in the style of MongoDB:
//
//	{"color": "red", "price": {"$gte": 10, "$lt": 20}}
//	{"$or": [{"tags": {"$contains_any": ["a", "b"]}}, {"meta.rank": {"$lte": 3}}]}
//
// Several keys in one object AND together; {} matches everything. A key is
// either a logical operator or a field:
//
//   - $and, $or: a non-empty array of filters.
//   - $not: a filter; it matches what the filter does not.
//   - a field: a dot path ("a.b" is member b of the object at member a;
//     paths walk objects only, never into arrays; a payload key that itself
//     contains '.' cannot be named). Its value is an operator object (a
//     non-empty object whose keys all start with '$') or any other value,
//     which means $eq that value. An object mixing '$' keys and plain keys
//     is an error; {"$eq": {...}} matches objects with '$' keys.
//
// Field operators (several in one operator object AND together):
//
//   - $eq v: the field deep-equals v, or the field is an array one of whose
//     elements deep-equals v (MongoDB's rule: {"tags": "red"} matches
//     {"tags": ["red", "blue"]}; {"tags": ["red", "blue"]} matches that
//     array exactly, in order). Deep equality compares objects
//     structurally (key order is irrelevant), arrays element by element in
//     order, numbers numerically (1 == 1.0), strings bytewise.
//   - $ne v: not $eq v.
//   - $in [v...]: $eq one of the values; $nin [v...]: not $in. The operand
//     must be an array; $in [] matches nothing, $nin [] everything.
//   - $gt, $gte, $lt, $lte v: v must be a number or a string. Numbers compare
//     with numbers, strings with strings (bytewise, i.e. by code point);
//     any other pairing is false, not an error. An array field matches if
//     one of its elements does.
//   - $exists true|false: whether the field is present (a null value is
//     present).
//   - $contains_any [v...], $contains_all [v...]: the field is an array
//     holding at least one of, or every one of, the values (deep
//     equality). A field that is not an array never matches;
//     $contains_all [] matches every array, $contains_any [] nothing.
//   - $not op: the operator object (or bare value, meaning $eq) op does not
//     match.
//
// A missing field makes $ne and $nin true, $exists false true, and every
// other operator false. $not is logical negation, so {"a": {"$not": {"$gt":
// 1}}} matches payloads without a. An id the Index holds no payload for has
// the payload {}.
//
// Numbers are IEEE doubles, as in most JSON implementations: integers
// beyond 2^53 compare after rounding, numbers beyond the double range are
// ±Inf. Duplicate keys in a filter are an error; in a payload the last one
// wins (as encoding/json decodes it). Strings are decoded as encoding/json
// does (invalid UTF-8 and lone surrogates become U+FFFD).
//
// # Evaluation
//
// Compile parses a filter once into a tree of operations whose operands are
// held in a canonical binary encoding in which deep equality is byte
// equality. Index.Set pre-decodes each payload into a record: a table of
// (path id, offset) for every member reachable through objects, sorted by
// path id, over the canonical encoding of the whole payload. Path ids are
// interned per Index (reference counted, reused when no payload uses them).
// Index.Bind resolves the filter's paths to path ids once per search; Allow
// then finds each field by path id in the record and compares bytes: no
// JSON is decoded per visited node.
//
// The Index also keeps an inverted index from (path id, scalar value) to
// the docs whose field is that value or is an array holding it, and per
// path a sorted index of numbers. A filter built from $eq/$in/$contains_*
// on scalar values and numeric $gt/$gte/$lt/$lte, with $and/$or, is bounded
// by them: Bind sizes the candidate set (AND takes its smallest child, OR
// sums). At most Options.MaxList candidates: Bind checks each with the full
// filter and the Predicate lists the exact allowed ids, which hnsw searches
// exactly. At most Options.MaxPrefilter: Bind marks the candidates in a
// bitmap over the docs, and Allow rejects the others with one bit test
// before evaluating. Other filters are evaluated id by id during the graph
// walk.
package filter
