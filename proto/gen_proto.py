#!/usr/bin/env python3
"""Generate the Xen3D wire protocol code from proto/commands.toml.

One declarative list drives the record structs, encoder, bounds-checking
decoder, dispatcher and trace printer, so the layouts can never drift apart
(the approach of Chromium's command buffer and Dawn's wire).

usage: gen_proto.py commands.toml commands.gen.h commands_testing.gen.h
"""
import sys
import tomllib

SCALARS = {
    # name: (c++ type, size, printf-ish kind)
    'u8': ('uint8_t', 1, 'u'),
    'u16': ('uint16_t', 2, 'u'),
    'u32': ('uint32_t', 4, 'u'),
    'u64': ('uint64_t', 8, 'u'),
    'i32': ('int32_t', 4, 'i'),
    'i64': ('int64_t', 8, 'i'),
    'f32': ('float', 4, 'f'),
    'f64': ('double', 8, 'f'),
    'bool': ('uint8_t', 1, 'b'),
    'id': ('uint32_t', 4, 'id'),
}
TAIL_SCALARS = {'u8', 'char', 'u32'}


def camel(name):
    return ''.join(p.capitalize() for p in name.split('_'))


def align(n, a):
    return (n + a - 1) // a * a


class Field:
    def __init__(self, entry, structs, where):
        if not (2 <= len(entry) <= 3):
            sys.exit(f'{where}: field entry must be [type, name] or [type, name, {{options}}]')
        self.type, self.name = entry[0], entry[1]
        opts = entry[2] if len(entry) == 3 else {}
        unknown = set(opts) - {'count', 'max'}
        if unknown:
            sys.exit(f'{where}.{self.name}: unknown options {sorted(unknown)}')
        self.count = opts.get('count', 1)
        self.max = opts.get('max')
        self.struct = structs.get(self.type)
        if self.struct is None and self.type not in SCALARS:
            sys.exit(f'{where}.{self.name}: unknown type {self.type}')
        if self.struct is not None and self.max is not None:
            sys.exit(f'{where}.{self.name}: max applies to scalars only')
        if self.type == 'bool' and self.max is None:
            self.max = 1
        if self.struct:
            self.size, self.align = self.struct.size, self.struct.align
        else:
            self.size = self.align = SCALARS[self.type][1]
        self.offset = None

    @property
    def ctype(self):
        return self.struct.cname if self.struct else SCALARS[self.type][0]

    def decl(self):
        if self.count > 1:
            return f'std::array<{self.ctype}, {self.count}> {self.name}{{}};'
        return f'{self.ctype} {self.name}{{}};'


def lay_out(fields, start):
    off, al = start, 1
    for f in fields:
        off = align(off, f.align)
        f.offset = off
        off += f.size * f.count
        al = max(al, f.align)
    return off, al


class Struct:
    def __init__(self, spec, structs):
        self.name = spec['name']
        self.cname = camel(self.name)
        self.doc = spec.get('doc', '')
        self.fields = [Field(e, structs, self.name) for e in spec['fields']]
        end, self.align = lay_out(self.fields, 0)
        self.size = align(end, self.align)


class Command:
    def __init__(self, spec, structs):
        self.name = spec['name']
        self.cname = camel(self.name)
        self.opcode = spec['opcode']
        self.sender = spec['from']
        if self.sender not in ('guest', 'host'):
            sys.exit(f'{self.name}: from must be guest or host')
        self.answer = spec.get('answer')
        self.doc = spec.get('doc', '')
        self.fields = [Field(e, structs, self.name) for e in spec.get('fields', [])]
        self.tail = None
        if 'tail' in spec:
            t = spec['tail']
            ttype, tname = t[0], t[1]
            topts = t[2] if len(t) == 3 else {}
            if 'max' not in topts:
                sys.exit(f'{self.name}: a tail needs max = N')
            self.tail = dict(type=ttype, name=tname, max=topts['max'])
            if ttype in TAIL_SCALARS:
                self.tail['size'] = 4 if ttype == 'u32' else 1
                self.tail['ctype'] = {'u8': 'uint8_t', 'char': 'char', 'u32': 'uint32_t'}[ttype]
            elif ttype in structs:
                self.tail['size'] = structs[ttype].size
                self.tail['ctype'] = structs[ttype].cname
                self.tail['struct'] = structs[ttype]
            else:
                sys.exit(f'{self.name}: bad tail type {ttype}')
            self.fields.append(Field(['u32', tname + '_count', {'max': topts['max']}], structs, self.name))
            self.count_field = self.fields[-1]
        end, _ = lay_out(self.fields, 8)
        if self.tail:
            self.tail_align = min(8, self.tail['size'] if self.tail['size'] in (1, 2, 4, 8) else 8)
            if 'struct' in self.tail:
                self.tail_align = self.tail['struct'].align
            self.tail_offset = align(end, self.tail_align)
            self.fixed_end = self.tail_offset
        else:
            self.fixed_end = end
        self.min_size = align(self.fixed_end, 8)


def load(path):
    with open(path, 'rb') as fh:
        spec = tomllib.load(fh)
    structs = {}
    for s in spec.get('struct', []):
        structs[s['name']] = Struct(s, structs)
    cmds = [Command(c, structs) for c in spec['command']]
    seen = {}
    for c in cmds:
        if c.opcode == 0 or c.opcode > 0xffff:
            sys.exit(f'{c.name}: opcode must be 1..0xffff (0 is the ring padding marker)')
        if c.opcode in seen:
            sys.exit(f'{c.name}: opcode {c.opcode:#x} already used by {seen[c.opcode]}')
        seen[c.opcode] = c.name
    names = {c.name for c in cmds}
    for c in cmds:
        if c.answer and c.answer not in names:
            sys.exit(f'{c.name}: answer {c.answer} is not a command')
    return spec, structs, cmds


def emit_field_io(out, f, base, obj, mode, indent):
    """Emit code to store (mode='enc') or load (mode='dec') one field."""
    pad = ' ' * indent
    idx = ''
    if f.count > 1:
        out.append(f'{pad}for (size_t i = 0; i < {f.count}; ++i) {{')
        idx = '[i]'
        pad2 = pad + '  '
        off = f'{base} + {f.offset} + i * {f.size}'
    else:
        pad2 = pad
        off = f'{base} + {f.offset}'
    lhs = f'{obj}.{f.name}{idx}'
    if f.struct:
        if mode == 'enc':
            out.append(f'{pad2}encode_struct({off}, {lhs});')
        else:
            out.append(f'{pad2}if (auto e = decode_struct({off}, {lhs}); !e.ok()) return e.in("{f.name}");')
    else:
        if mode == 'enc':
            out.append(f'{pad2}store_le<{f.ctype}>({off}, {lhs});')
        else:
            out.append(f'{pad2}{lhs} = load_le<{f.ctype}>({off});')
            if f.max is not None:
                out.append(f'{pad2}if ({lhs} > {f.max}u) return DecodeError::range("{f.name}");')
    if f.count > 1:
        out.append(f'{pad}}}')


def emit_print(out, f, obj):
    if f.count > 1:
        out.append(f'  s += " {f.name}=[";')
        out.append(f'  for (size_t i = 0; i < {f.count}; ++i) {{ if (i) s += ","; print_value(s, {obj}.{f.name}[i]); }}')
        out.append('  s += "]";')
    else:
        kind = 'id' if f.type == 'id' else ''
        if kind == 'id':
            out.append(f'  s += " {f.name}=#"; print_value(s, {obj}.{f.name});')
        else:
            out.append(f'  s += " {f.name}="; print_value(s, {obj}.{f.name});')


def generate(spec, structs, cmds):
    o = []
    o.append('// Generated by proto/gen_proto.py from proto/commands.toml. Do not edit.')
    o.append('#pragma once')
    o.append('#include <array>')
    o.append('#include <cstddef>')
    o.append('#include <cstdint>')
    o.append('#include <string>')
    o.append('#include <string_view>')
    o.append('#include "proto/wire.h"')
    o.append('')
    o.append('namespace xen3d::proto {')
    o.append('')
    o.append(f'inline constexpr uint16_t kProtocolMajor = {spec["major"]};')
    o.append(f'inline constexpr uint16_t kProtocolMinor = {spec["minor"]};')
    o.append(f'inline constexpr uint32_t kProtocolMagic = {spec["magic"]:#x};')
    o.append('')
    o.append('enum class Opcode : uint16_t {')
    o.append('  Pad = 0,')
    for c in cmds:
        o.append(f'  {c.cname} = {c.opcode:#06x},')
    o.append('};')
    o.append('')
    o.append('inline const char* opcode_name(uint16_t op) {')
    o.append('  switch (op) {')
    o.append('    case 0: return "pad";')
    for c in cmds:
        o.append(f'    case {c.opcode:#06x}: return "{c.name}";')
    o.append('    default: return "unknown";')
    o.append('  }')
    o.append('}')
    o.append('')
    o.append('inline std::string DecodeError::describe() const {')
    o.append('  static const char* const names[] = {"ok", "truncated record", "record size mismatch",')
    o.append('      "unknown opcode", "record from the wrong side", "bad record header",')
    o.append('      "field out of range", "rejected"};')
    o.append('  std::string s = names[code];')
    o.append('  if (code == Ok) return s;')
    o.append('  s += " (opcode " + std::to_string(opcode) + " " + opcode_name(opcode);')
    o.append('  if (field) { s += ", "; s += field; }')
    o.append('  return s + ")";')
    o.append('}')
    o.append('')
    o.append('// Every opcode, for tests and fuzzers that must cover them all.')
    o.append('inline constexpr std::array<Opcode, %d> kAllOpcodes = {' % len(cmds))
    o.append('  ' + ', '.join(f'Opcode::{c.cname}' for c in cmds))
    o.append('};')
    o.append('')
    # structs
    for s in structs.values():
        if s.doc:
            o.append(f'// {s.doc}')
        o.append(f'struct {s.cname} {{')
        for f in s.fields:
            o.append(f'  {f.decl()}')
        o.append(f'  static constexpr size_t kWireSize = {s.size};')
        o.append(f'  bool operator==(const {s.cname}&) const = default;')
        o.append('};')
        o.append('')
        o.append(f'inline void encode_struct(uint8_t* p, const {s.cname}& v) {{')
        o.append(f'  std::memset(p, 0, {s.size});')
        for f in s.fields:
            emit_field_io(o, f, 'p', 'v', 'enc', 2)
        o.append('}')
        o.append(f'inline DecodeError decode_struct(const uint8_t* p, {s.cname}& v) {{')
        for f in s.fields:
            emit_field_io(o, f, 'p', 'v', 'dec', 2)
        o.append('  return {};')
        o.append('}')
        o.append(f'inline void print_value(std::string& s, const {s.cname}& v) {{')
        o.append('  s += "{";')
        for f in s.fields:
            emit_print(o, f, 'v')
        o.append('  s += " }";')
        o.append('}')
        o.append('')
    # commands
    for c in cmds:
        if c.doc:
            o.append(f'// {c.doc}')
        o.append(f'struct {c.cname} {{')
        o.append(f'  static constexpr Opcode kOpcode = Opcode::{c.cname};')
        o.append(f'  static constexpr const char* kName = "{c.name}";')
        o.append(f'  static constexpr Sender kSender = Sender::{c.sender.capitalize()};')
        o.append(f'  static constexpr bool kAwaitsAnswer = {"true" if c.answer else "false"};')
        o.append(f'  static constexpr size_t kMinWireSize = {c.min_size};')
        for f in c.fields:
            if c.tail and f is c.count_field:
                continue
            o.append(f'  {f.decl()}')
        if c.tail:
            t = c.tail
            if t['type'] == 'char':
                o.append(f'  std::string_view {t["name"]};')
            else:
                o.append(f'  TailView<{t["ctype"]}> {t["name"]};')
            o.append(f'  static constexpr size_t kMax{camel(t["name"])} = {t["max"]};')
            o.append(f'  static constexpr size_t kTailCountOffset = {c.count_field.offset};')
        o.append('};')
        o.append('')
        # wire size
        o.append(f'inline size_t wire_size(const {c.cname}& c) {{')
        if c.tail:
            o.append(f'  return align8({c.tail_offset} + c.{c.tail["name"]}.size() * {c.tail["size"]});')
        else:
            o.append('  (void)c;')
            o.append(f'  return {c.min_size};')
        o.append('}')
        # encode
        o.append(f'// Writes the record to p, which has room for wire_size(c) bytes.')
        o.append(f'inline void encode(uint8_t* p, const {c.cname}& c) {{')
        o.append('  const size_t size = wire_size(c);')
        o.append('  std::memset(p, 0, size);')
        o.append(f'  store_header(p, Opcode::{c.cname}, size);')
        for f in c.fields:
            if c.tail and f is c.count_field:
                o.append(f'  store_le<uint32_t>(p + {f.offset}, static_cast<uint32_t>(c.{c.tail["name"]}.size()));')
                continue
            emit_field_io(o, f, 'p', 'c', 'enc', 2)
        if c.tail:
            t = c.tail
            if t['type'] == 'char':
                o.append(f'  if (!c.{t["name"]}.empty()) std::memcpy(p + {c.tail_offset}, c.{t["name"]}.data(), c.{t["name"]}.size());')
            elif 'struct' in t:
                o.append(f'  for (size_t i = 0; i < c.{t["name"]}.size(); ++i) encode_struct(p + {c.tail_offset} + i * {t["size"]}, c.{t["name"]}[i]);')
            else:
                o.append(f'  c.{t["name"]}.store(p + {c.tail_offset});')
        o.append('}')
        # decode
        o.append(f'// Decodes a whole record (header included) of `size` bytes; checks every bound.')
        o.append(f'inline DecodeError decode(const uint8_t* p, size_t size, {c.cname}& c) {{')
        o.append(f'  if (auto e = check_header(p, size, Opcode::{c.cname}, {c.min_size}); !e.ok()) return e;')
        for f in c.fields:
            if c.tail and f is c.count_field:
                continue
            emit_field_io(o, f, 'p', 'c', 'dec', 2)
        if c.tail:
            t = c.tail
            cnt = f'c.{c.count_field.name}' if False else None
            o.append(f'  const uint32_t tail_count = load_le<uint32_t>(p + {c.count_field.offset});')
            o.append(f'  if (tail_count > {t["max"]}u) return DecodeError::range("{c.count_field.name}");')
            o.append(f'  if (size != align8({c.tail_offset} + size_t{{tail_count}} * {t["size"]})) return DecodeError::size_mismatch();')
            if t['type'] == 'char':
                o.append(f'  c.{t["name"]} = std::string_view(reinterpret_cast<const char*>(p + {c.tail_offset}), tail_count);')
            elif 'struct' in t:
                o.append(f'  c.{t["name"]} = TailView<{t["ctype"]}>::wire(p + {c.tail_offset}, tail_count);')
                o.append(f'  for (uint32_t i = 0; i < tail_count; ++i) {{')
                o.append(f'    {t["ctype"]} tmp;')
                o.append(f'    if (auto e = decode_struct(p + {c.tail_offset} + i * {t["size"]}, tmp); !e.ok()) return e.in("{t["name"]}");')
                o.append('  }')
            else:
                o.append(f'  c.{t["name"]} = TailView<{t["ctype"]}>::wire(p + {c.tail_offset}, tail_count);')
        else:
            o.append(f'  if (size != {c.min_size}) return DecodeError::size_mismatch();')
        o.append('  return {};')
        o.append('}')
        # print
        o.append(f'inline void print(std::string& s, const {c.cname}& c) {{')
        o.append(f'  s += "{c.name}";')
        for f in c.fields:
            if c.tail and f is c.count_field:
                continue
            emit_print(o, f, 'c')
        if c.tail:
            t = c.tail
            if t['type'] == 'char':
                o.append(f'  s += " {t["name"]}="; print_text(s, c.{t["name"]});')
            else:
                o.append(f'  s += " {t["name"]}=["; s += std::to_string(c.{t["name"]}.size()); s += " x {t["type"]}]";')
        o.append('}')
        o.append('')
    # dispatch
    o.append('// Decodes the record at p and calls handler(record) with the typed record.')
    o.append('// Records the receiving side must never get (wrong sender) are rejected.')
    o.append('// Handler returns DecodeError (ok() to go on).')
    o.append('template <class Handler>')
    o.append('DecodeError dispatch(const uint8_t* p, size_t size, Sender from, Handler&& handler) {')
    o.append('  if (size < kHeaderSize) return DecodeError::truncated();')
    o.append('  const uint16_t op = load_le<uint16_t>(p);')
    o.append('  switch (op) {')
    for c in cmds:
        o.append(f'    case {c.opcode:#06x}: {{')
        o.append(f'      if (from != Sender::{c.sender.capitalize()}) return DecodeError::wrong_sender(op);')
        o.append(f'      {c.cname} c;')
        o.append(f'      if (auto e = decode(p, size, c); !e.ok()) return e.at(op);')
        o.append('      return handler(c);')
        o.append('    }')
    o.append('    default: return DecodeError::unknown_opcode(op);')
    o.append('  }')
    o.append('}')
    o.append('')
    o.append('// One line of human-readable trace for a record (or why it does not decode).')
    o.append('inline std::string trace_record(const uint8_t* p, size_t size, Sender from) {')
    o.append('  std::string s;')
    o.append('  DecodeError e = dispatch(p, size, from, [&](const auto& c) { print(s, c); return DecodeError{}; });')
    o.append('  if (!e.ok()) { s = "<bad record: "; s += e.describe(); s += ">"; }')
    o.append('  return s;')
    o.append('}')
    o.append('')
    o.append('}  // namespace xen3d::proto')
    return '\n'.join(o) + '\n'


def fill_field(o, f, obj, indent='  '):
    """Random value for one field (respecting max) in the testing header."""
    idx = '[i]' if f.count > 1 else ''
    if f.count > 1:
        o.append(f'{indent}for (size_t i = 0; i < {f.count}; ++i) {{')
        indent += '  '
    lhs = f'{obj}.{f.name}{idx}'
    if f.struct:
        o.append(f'{indent}fill_struct({lhs}, rng);')
    elif f.type in ('f32', 'f64'):
        o.append(f'{indent}{lhs} = static_cast<{f.ctype}>(static_cast<int64_t>(rng() % 2001) - 1000) / 8;')
    else:
        val = f'static_cast<{f.ctype}>(rng())'
        if f.max is not None:
            val = f'static_cast<{f.ctype}>(rng() % ({f.max}ull + 1))'
        o.append(f'{indent}{lhs} = {val};')
    if f.count > 1:
        o.append(indent[:-2] + '}')


def flat_slots(fields, base=0):
    """Each scalar of a field list at its byte offset: (offset, size, count, kind, max)."""
    out = []
    for f in fields:
        if f.struct:
            for i in range(f.count):
                start = base + f.offset + i * f.size
                for (off, size, n, kind, mx) in flat_slots(f.struct.fields, start):
                    # A bulk_ref's pos and size are renamed by whoever feeds the host.
                    if f.type == 'bulk_ref' and off == start:
                        kind = 'BulkPos'
                    elif f.type == 'bulk_ref' and off == start + 8:
                        kind = 'BulkSize'
                    out.append((off, size, n, kind, mx))
            continue
        kind = ('Id' if f.type == 'id' else 'Float' if f.type in ('f32', 'f64')
                else 'Limited' if f.max is not None else 'Scalar')
        out.append((base + f.offset, f.size, f.count, kind, f.max if f.max is not None else 0))
    return out


def emit_shapes(o, structs, cmds):
    o += ['// Where each field of a record lies, for fuzzers that mutate records in',
          '// place (keeping ids ids and bulk spans renameable) rather than bytes.',
          'struct FieldSlot {',
          '  enum Kind : uint8_t { Scalar, Limited, Id, Float, BulkPos, BulkSize };',
          '  uint16_t offset; uint8_t size; uint16_t count; Kind kind; uint32_t max;',
          '};',
          'struct RecordShape {',
          '  Opcode opcode; bool from_guest; const FieldSlot* fields; uint16_t field_count;',
          '  // The variable-length tail (elem_size 0: none), its count field and the',
          '  // slots of one element (relative to it).',
          '  uint16_t tail_offset, tail_elem_size, tail_count_offset; uint32_t tail_max;',
          '  const FieldSlot* tail_fields; uint16_t tail_field_count;',
          '};', '']
    def slots_init(slots):
        return ', '.join(f'{{{o_}, {sz}, {n}, FieldSlot::{k}, {m}u}}' for (o_, sz, n, k, m) in slots)
    fixed = {c.name: flat_slots([f for f in c.fields if not (c.tail and f is c.count_field)]) for c in cmds}
    for c in cmds:
        o.append(f'inline constexpr FieldSlot kSlots{c.cname}[] = {{{slots_init(fixed[c.name]) or "{0, 0, 0, FieldSlot::Scalar, 0u}"}}};')
        if c.tail and 'struct' in c.tail:
            o.append(f'inline constexpr FieldSlot kTailSlots{c.cname}[] = {{{slots_init(flat_slots(c.tail["struct"].fields))}}};')
    o.append(f'inline constexpr RecordShape kRecordShapes[] = {{')
    for c in cmds:
        if c.tail:
            t = c.tail
            tails = f'kTailSlots{c.cname}' if 'struct' in t else 'nullptr'
            ntail = len(flat_slots(t['struct'].fields)) if 'struct' in t else 0
            tail = f'{c.tail_offset}, {t["size"]}, {c.count_field.offset}, {t["max"]}u, {tails}, {ntail}'
        else:
            tail = '0, 0, 0, 0u, nullptr, 0'
        o.append(f'  {{Opcode::{c.cname}, {"true" if c.sender == "guest" else "false"}, kSlots{c.cname}, {len(fixed[c.name])}, {tail}}},')
    o.append('};')
    o.append('inline const RecordShape* record_shape(uint16_t opcode) {')
    o.append('  for (const auto& s : kRecordShapes) if (uint16_t(s.opcode) == opcode) return &s;')
    o.append('  return nullptr;')
    o.append('}')
    o.append('')


def generate_testing(structs, cmds):
    o = ['// Generated by proto/gen_proto.py from proto/commands.toml. Do not edit.',
         '// Helpers for tests and fuzzers: visit every record type, fill one with',
         '// random valid values, compare two.',
         '#pragma once', '#include <memory>', '#include <vector>',
         '#include "proto/commands.gen.h"', '',
         'namespace xen3d::proto::testing {', '',
         ]
    for st in structs.values():
        o.append(f'inline void fill_struct({st.cname}& v, auto& rng) {{')
        for f in st.fields:
            fill_field(o, f, 'v')
        o.append('}')
    o += [
         '// Keeps tail arrays alive while records view them.',
         'struct TailStore {',
         '  std::vector<std::shared_ptr<void>> keep;',
         '  template <class T> std::span<const T> make(size_t n, auto& rng) {',
         '    auto v = std::make_shared<std::vector<T>>(n);',
         '    for (auto& e : *v) {',
         '      if constexpr (std::is_arithmetic_v<T>) e = static_cast<T>(rng());',
         '      else fill_struct(e, rng);',
         '    }',
         '    keep.push_back(v);',
         '    return {v->data(), v->size()};',
         '  }',
         '};', ''
    ]
    o.append('')
    emit_shapes(o, structs, cmds)
    o.append('template <class F> void for_each_record_type(F&& f) {')
    for c in cmds:
        o.append(f'  f.template operator()<{c.cname}>();')
    o.append('}')
    o.append('')
    for c in cmds:
        o.append(f'inline void fill({c.cname}& c, auto& rng, TailStore& store) {{')
        for f in c.fields:
            if c.tail and f is c.count_field:
                continue
            fill_field(o, f, 'c')
        if c.tail:
            t = c.tail
            lim = min(t['max'], 300)
            o.append(f'  const size_t n = rng() % {lim + 1};')
            if t['type'] == 'char':
                o.append('  auto bytes = store.make<char>(n, rng);')
                o.append(f'  c.{t["name"]} = std::string_view(bytes.data(), bytes.size());')
            else:
                o.append(f'  c.{t["name"]} = TailView<{t["ctype"]}>(store.make<{t["ctype"]}>(n, rng));')
        o.append('}')
        o.append(f'inline bool same(const {c.cname}& a, const {c.cname}& b) {{')
        for f in c.fields:
            if c.tail and f is c.count_field:
                continue
            o.append(f'  if (!(a.{f.name} == b.{f.name})) return false;')
        if c.tail:
            t = c.tail
            if t['type'] == 'char':
                o.append(f'  if (a.{t["name"]} != b.{t["name"]}) return false;')
            else:
                o.append(f'  if (a.{t["name"]}.size() != b.{t["name"]}.size()) return false;')
                o.append(f'  for (size_t i = 0; i < a.{t["name"]}.size(); ++i) if (!(a.{t["name"]}[i] == b.{t["name"]}[i])) return false;')
        o.append('  return true;')
        o.append('}')
    o.append('')
    o.append('}  // namespace xen3d::proto::testing')
    return '\n'.join(o) + '\n'


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    spec, structs, cmds = load(sys.argv[1])
    with open(sys.argv[2], 'w') as fh:
        fh.write(generate(spec, structs, cmds))
    with open(sys.argv[3], 'w') as fh:
        fh.write(generate_testing(structs, cmds))


if __name__ == '__main__':
    main()
