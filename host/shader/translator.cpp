// TGSI -> NIR: declarations, registers, control flow and the pipeline that
// optimizes and finalizes the result (translator.h explains the model).
#include "host/shader/translator.h"

#include <cstdio>
#include <map>
#include <utility>

#include "host/shader/tgsi_to_nir.h"

#include "compiler/nir_types.h"
#include "pipe/p_screen.h"
#include "tgsi/tgsi_from_mesa.h"
#include "tgsi/tgsi_dump.h"
#include "tgsi/tgsi_strings.h"
#include "util/ralloc.h"
#include "util/bitscan.h"
#include "util/u_prim.h"
#include "main/config.h"  // MAX_PATCH_VERTICES

namespace xen3d::host::shader {
namespace {

nir_ssa_def* splat(nir_builder* b, nir_ssa_def* v) {
  if (v->num_components == 4) return v;
  const unsigned swiz[4] = {0, 0, 0, 0};
  return nir_swizzle(b, v, swiz, 4);
}

// A vec4 from a system value of 1 to 3 components, the rest zero.
nir_ssa_def* widen(nir_builder* b, nir_ssa_def* v) {
  if (v->num_components == 4) return v;
  nir_ssa_def* c[4];
  for (unsigned i = 0; i < 4; ++i) c[i] = i < v->num_components ? nir_channel(b, v, i) : nir_imm_int(b, 0);
  return nir_vec(b, c, 4);
}

// The varying slot of a TGSI semantic, as the inverse of the mapping Mesa's
// own NIR -> TGSI path uses for this screen (tgsi_get_gl_varying_semantic),
// so that stages translated here and stages the driver scans agree.
int varying_slot(unsigned name, unsigned index, bool texcoord) {
  using Map = std::map<std::pair<unsigned, unsigned>, int>;
  // Built once, thread-safely: in-process executors translate on many threads.
  static const std::array<Map, 2> by_semantic = [] {
    std::array<Map, 2> m;
    for (int tc = 0; tc < 2; ++tc) {
      // Per-vertex slots, then the per-patch ones (PATCH0..31) of tessellation.
      for (int slot = 0; slot < VARYING_SLOT_TESS_MAX; ++slot) {
        // (PRIMITIVE_COUNT/INDICES are mesh shaders' names for the tessellation levels.)
        if (slot == VARYING_SLOT_PRIMITIVE_SHADING_RATE || slot == VARYING_SLOT_BOUNDING_BOX0 ||
            slot == VARYING_SLOT_BOUNDING_BOX1 || slot == VARYING_SLOT_CULL_PRIMITIVE ||
            slot == VARYING_SLOT_VIEWPORT_MASK || slot == VARYING_SLOT_VIEW_INDEX ||
            (slot >= VARYING_SLOT_MAX && slot < VARYING_SLOT_PATCH0)) {
          continue;  // slots tgsi_get_gl_varying_semantic has no semantic for
        }
        unsigned n = 0, i = 0;
        tgsi_get_gl_varying_semantic(static_cast<gl_varying_slot>(slot), tc, &n, &i);
        m[tc].emplace(std::make_pair(n, i), slot);  // the first slot of a semantic wins
      }
    }
    return m;
  }();
  const Map& m = by_semantic[texcoord];
  auto it = m.find({name, index});
  return it == m.end() ? -1 : it->second;
}

glsl_interp_mode interp_mode(unsigned tgsi) {
  switch (tgsi) {
    case TGSI_INTERPOLATE_CONSTANT: return INTERP_MODE_FLAT;
    case TGSI_INTERPOLATE_LINEAR: return INTERP_MODE_NOPERSPECTIVE;
    case TGSI_INTERPOLATE_PERSPECTIVE: return INTERP_MODE_SMOOTH;
    default: return INTERP_MODE_NONE;  // COLOR: flat or smooth by the rasterizer state
  }
}

const char* semantic_name(unsigned s) { return s < TGSI_SEMANTIC_COUNT ? tgsi_semantic_names[s] : "?"; }

// Tessellation varyings that exist once per patch rather than per vertex.
bool patch_semantic(unsigned name) {
  return name == TGSI_SEMANTIC_PATCH || name == TGSI_SEMANTIC_TESSOUTER || name == TGSI_SEMANTIC_TESSINNER;
}

}  // namespace

Translator::Translator(pipe_screen* screen, unsigned stage, unsigned shared_bytes)
    : screen_(screen), stage_(stage), shared_bytes_(shared_bytes) {
  // gallivm takes image intrinsics by binding index, as st/mesa leaves
  // them for it; zink's SPIR-V needs the image variables (derefs).
  const char* name = screen->get_name(screen);
  images_by_deref_ = name && std::strncmp(name, "zink", 4) == 0;
}

Translator::~Translator() {
  if (b_.shader) ralloc_free(b_.shader);
}

void Translator::fail(const char* fmt, ...) {
  if (!error_.empty()) return;  // the first reason is the one worth reading
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  error_ = buf;
}

nir_alu_type Translator::view_type(unsigned index) const {
  return index < view_types_.size() ? view_types_[index] : nir_type_float32;
}

nir_shader* Translator::translate(const tgsi_token* tokens) {
  tgsi_scan_shader(tokens, &scan_);
  const gl_shader_stage mesa_stage = tgsi_processor_to_shader_stage(stage_);
  const auto* options = static_cast<const nir_shader_compiler_options*>(
      screen_->get_compiler_options ? screen_->get_compiler_options(screen_, PIPE_SHADER_IR_NIR,
                                                                    static_cast<pipe_shader_type>(stage_))
                                    : nullptr);
  if (!options) {
    fail("the host driver takes no NIR");
    return nullptr;
  }
  b_ = nir_builder_init_simple_shader(mesa_stage, options, "xen3d-tgsi");
  nir_shader* s = b_.shader;
  s->info.separate_shader = true;
  s->info.internal = false;
  if (stage_ == PIPE_SHADER_FRAGMENT) s->info.fs.untyped_color_outputs = true;
  // llvmpipe sizes shared memory from req_local_mem; zink from the shader's
  // own size (its SPIR-V array of them: at 0, every shared access missed).
  if (stage_ == PIPE_SHADER_COMPUTE) s->info.shared_size = shared_bytes_;

  temps_.resize(scan_.file_max[TGSI_FILE_TEMPORARY] + 1);
  outputs_.resize(scan_.file_max[TGSI_FILE_OUTPUT] + 1);
  output_vars_.assign(outputs_.size(), nullptr);
  output_semantic_.assign(outputs_.size(), 0);
  inputs_.assign(scan_.file_max[TGSI_FILE_INPUT] + 1, nullptr);
  input_base_.assign(inputs_.size(), 0);
  input_semantic_.assign(inputs_.size(), 0);
  input_declared_.assign(inputs_.size(), false);
  input_array_.assign(inputs_.size(), false);
  sysval_semantic_.assign(scan_.file_max[TGSI_FILE_SYSTEM_VALUE] + 1, TGSI_SEMANTIC_COUNT);
  view_types_.assign(scan_.file_max[TGSI_FILE_SAMPLER_VIEW] + 1, nir_type_float32);
  images_.assign(scan_.file_max[TGSI_FILE_IMAGE] + 1, Image{});
  s->num_inputs = inputs_.size();
  s->num_outputs = outputs_.size();

  // Properties first: geometry-shader inputs are sized by the input
  // primitive, tessellation-control outputs by the vertices out.
  for (unsigned i = 0; i < TGSI_PROPERTY_COUNT; ++i) {
    tgsi_full_property p{};
    p.Property.PropertyName = i;
    p.u[0].Data = scan_.properties[i];
    // Zero is a value too for the geometry shader's primitives (POINTS) and
    // the tessellator's spacing (fractional odd), winding (counter-clockwise)
    // and primitive (POINTS: refused).
    const bool zero_counts =
        (stage_ == PIPE_SHADER_GEOMETRY && (i == TGSI_PROPERTY_GS_INPUT_PRIM || i == TGSI_PROPERTY_GS_OUTPUT_PRIM)) ||
        (stage_ == PIPE_SHADER_TESS_EVAL && (i == TGSI_PROPERTY_TES_PRIM_MODE || i == TGSI_PROPERTY_TES_SPACING ||
                                             i == TGSI_PROPERTY_TES_VERTEX_ORDER_CW));
    if (scan_.properties[i] || zero_counts) property(p);
  }
  if (stage_ == PIPE_SHADER_TESS_CTRL && !tcs_vertices_out_) fail("a tessellation control shader without vertices out");
  if (failed()) return nullptr;

  tgsi_parse_context parser;
  if (tgsi_parse_init(&parser, tokens) != TGSI_PARSE_OK) {
    fail("unparsable TGSI");
    return nullptr;
  }
  bool ended = false;
  while (!tgsi_parse_end_of_tokens(&parser) && !failed() && !ended) {
    tgsi_parse_token(&parser);
    const tgsi_full_token& t = parser.FullToken;
    switch (t.Token.Type) {
      case TGSI_TOKEN_TYPE_DECLARATION: declaration(t.FullDeclaration); break;
      case TGSI_TOKEN_TYPE_IMMEDIATE: immediate(t.FullImmediate); break;
      case TGSI_TOKEN_TYPE_PROPERTY: break;  // read from the scan above
      case TGSI_TOKEN_TYPE_INSTRUCTION:
        if (t.FullInstruction.Instruction.Opcode == TGSI_OPCODE_END) {
          ended = true;
          break;
        }
        instruction(t.FullInstruction);
        break;
    }
  }
  tgsi_parse_free(&parser);
  if (!failed() && !open_.empty()) fail("control flow is still open at the end of the shader");
  if (failed()) return nullptr;
  // Geometry shaders store at each EMIT, tessellation control shaders as they write.
  if (stage_ != PIPE_SHADER_GEOMETRY && stage_ != PIPE_SHADER_TESS_CTRL) store_outputs();

  // The pipeline st/mesa runs before a driver sees GLSL's NIR, so that the
  // driver gets shaders in the shape it is tuned for.
  NIR_PASS_V(s, nir_lower_vars_to_ssa);
  NIR_PASS_V(s, nir_split_var_copies);
  NIR_PASS_V(s, nir_lower_var_copies);
  NIR_PASS_V(s, nir_lower_system_values);
  bool progress;
  unsigned rounds = 0;
  do {
    progress = false;
    NIR_PASS(progress, s, nir_lower_vars_to_ssa);
    if (options->lower_to_scalar) {
      NIR_PASS_V(s, nir_lower_alu_to_scalar, options->lower_to_scalar_filter, nullptr);
      NIR_PASS_V(s, nir_lower_phis_to_scalar, false);
    }
    NIR_PASS(progress, s, nir_copy_prop);
    NIR_PASS(progress, s, nir_opt_remove_phis);
    NIR_PASS(progress, s, nir_opt_dce);
    if (nir_opt_trivial_continues(s)) {
      progress = true;
      NIR_PASS(progress, s, nir_copy_prop);
      NIR_PASS(progress, s, nir_opt_dce);
    }
    NIR_PASS(progress, s, nir_opt_if, nir_opt_if_optimize_phi_true_false);
    NIR_PASS(progress, s, nir_opt_dead_cf);
    NIR_PASS(progress, s, nir_opt_cse);
    NIR_PASS(progress, s, nir_opt_peephole_select, 8, true, true);
    NIR_PASS(progress, s, nir_opt_algebraic);
    NIR_PASS(progress, s, nir_opt_constant_folding);
    NIR_PASS(progress, s, nir_opt_undef);
    if (options->max_unroll_iterations) NIR_PASS(progress, s, nir_opt_loop_unroll);
  } while (progress && ++rounds < 64);
  NIR_PASS_V(s, nir_remove_dead_variables, nir_var_function_temp, nullptr);
  // A driver without rectangle textures (zink: Vulkan has none) samples
  // them as 2D textures with normalized coordinates; guests are offered
  // them anyway (mask_host_caps): st/mesa's own lowering for a TGSI driver
  // left its scale a NULL register (guests' fixed-function RECT lookups).
  if (!screen_->get_param(screen_, PIPE_CAP_TEXRECT)) {
    nir_lower_tex_options rect{};
    rect.lower_rect = true;
    NIR_PASS_V(s, nir_lower_tex, &rect);
  }
  nir_shader_gather_info(s, nir_shader_get_entrypoint(s));
  // What a GL linker would have recorded: the driver sizes its sampler and
  // view state by these (nir_tgsi_scan_shader). TGSI's lookups use the
  // sampler's index for its view.
  const uint32_t units = scan_.samplers_declared | scan_.file_mask[TGSI_FILE_SAMPLER_VIEW];
  BITSET_ZERO(s->info.textures_used);
  BITSET_ZERO(s->info.samplers_used);
  s->info.textures_used[0] = units;
  s->info.samplers_used[0] = units;
  s->info.num_textures = util_last_bit(units);
  declare_uniform_variables(units);
  BITSET_ZERO(s->info.images_used);
  BITSET_ZERO(s->info.image_buffers);
  BITSET_ZERO(s->info.msaa_images);
  for (unsigned i = 0; i < images_.size() && i < 32; ++i) {
    if (!images_[i].declared) continue;
    BITSET_SET(s->info.images_used, i);
    if (images_[i].target == TGSI_TEXTURE_BUFFER) BITSET_SET(s->info.image_buffers, i);
    if (images_[i].target == TGSI_TEXTURE_2D_MSAA || images_[i].target == TGSI_TEXTURE_2D_ARRAY_MSAA) {
      BITSET_SET(s->info.msaa_images, i);
    }
    s->info.num_images = i + 1;
  }
  nir_validate_shader(s, "after xen3d's TGSI translation");  // live where Mesa is built with asserts
  if (screen_->finalize_nir) {
    char* msg = static_cast<char*>(screen_->finalize_nir(screen_, s));
    free(msg);
  }
  b_.shader = nullptr;  // the caller owns it now
  return s;
}

void Translator::declare_uniform_variables(uint32_t units) {
  nir_shader* s = b_.shader;
  // Constant buffers as GLSL's uniform blocks after st/mesa lowered the
  // default one to buffer 0 (nir_lower_uniforms_to_ubo): llvmpipe reads
  // load_ubo alone; zink sizes and binds its UBO descriptors from these
  // variables (zink_compiler.c unbreak_bos).
  s->info.first_ubo_is_default_ubo = true;
  s->num_uniforms = ubo_rows_[0];
  for (unsigned i = 0; i < ubos_; ++i) {
    if (!ubo_rows_[i]) continue;
    glsl_struct_field field{};
    field.type = glsl_array_type(glsl_vec4_type(), ubo_rows_[i], 16);
    field.name = "rows";
    field.offset = 0;
    field.location = -1;
    const glsl_type* block = glsl_interface_type(&field, 1, GLSL_INTERFACE_PACKING_STD140, false, "block");
    nir_variable* v = nir_variable_create(s, nir_var_mem_ubo, block, i ? "ubo" : "uniform_0");
    v->interface_type = block;
    v->data.binding = i;
    v->data.driver_location = i;
  }
  // And the sampler uniforms GLSL leaves in the shader, typed as the shader
  // samples them: the draw module's polygon-stipple and smooth-line passes
  // put their own sampler at the first binding past them
  // (nir_draw_helpers.c).
  for (unsigned u = 0; u < 32; ++u) {
    if (!(units & (1u << u))) continue;
    const SamplerUse& use = sampler_uses_[u];
    const nir_alu_type t = use.shadow ? nir_type_float32 : view_type(u);
    const glsl_base_type base = t == nir_type_int32 ? GLSL_TYPE_INT : t == nir_type_uint32 ? GLSL_TYPE_UINT : GLSL_TYPE_FLOAT;
    nir_variable* v = nir_variable_create(s, nir_var_uniform, glsl_sampler_type(use.dim, use.shadow, use.array, base),
                                          "sampler");
    v->data.binding = u;
    v->data.explicit_binding = true;
  }
}

bool Translator::use_samplers(unsigned first, unsigned last, glsl_sampler_dim dim, bool array, bool shadow) {
  for (unsigned u = first; u <= last && u < sampler_uses_.size(); ++u) {
    SamplerUse& use = sampler_uses_[u];
    if (use.used && (use.dim != dim || use.array != array || use.shadow != shadow)) {
      fail("texture unit %u is sampled as two kinds of texture", u);
      return false;
    }
    use = {true, dim, array, shadow};
  }
  return true;
}

void Translator::property(const tgsi_full_property& p) {
  nir_shader* s = b_.shader;
  const unsigned v = p.u[0].Data;
  switch (p.Property.PropertyName) {
    case TGSI_PROPERTY_FS_COORD_ORIGIN: s->info.fs.origin_upper_left = v == TGSI_FS_COORD_ORIGIN_UPPER_LEFT; break;
    case TGSI_PROPERTY_FS_COORD_PIXEL_CENTER:
      s->info.fs.pixel_center_integer = v == TGSI_FS_COORD_PIXEL_CENTER_INTEGER;
      break;
    case TGSI_PROPERTY_FS_COLOR0_WRITES_ALL_CBUFS: break;  // declare_output
    case TGSI_PROPERTY_FS_DEPTH_LAYOUT:
      s->info.fs.depth_layout = v == TGSI_FS_DEPTH_LAYOUT_ANY        ? FRAG_DEPTH_LAYOUT_ANY
                                : v == TGSI_FS_DEPTH_LAYOUT_GREATER  ? FRAG_DEPTH_LAYOUT_GREATER
                                : v == TGSI_FS_DEPTH_LAYOUT_LESS     ? FRAG_DEPTH_LAYOUT_LESS
                                : v == TGSI_FS_DEPTH_LAYOUT_UNCHANGED ? FRAG_DEPTH_LAYOUT_UNCHANGED
                                                                      : FRAG_DEPTH_LAYOUT_NONE;
      break;
    case TGSI_PROPERTY_FS_EARLY_DEPTH_STENCIL: s->info.fs.early_fragment_tests = v != 0; break;
    case TGSI_PROPERTY_FS_POST_DEPTH_COVERAGE: s->info.fs.post_depth_coverage = v != 0; break;
    case TGSI_PROPERTY_VS_WINDOW_SPACE_POSITION: s->info.vs.window_space_position = v != 0; break;
    case TGSI_PROPERTY_NUM_CLIPDIST_ENABLED: s->info.clip_distance_array_size = v; break;
    case TGSI_PROPERTY_NEXT_SHADER: s->info.next_stage = tgsi_processor_to_shader_stage(v); break;
    case TGSI_PROPERTY_LEGACY_MATH_RULES: s->info.use_legacy_math_rules = v != 0; break;
    case TGSI_PROPERTY_CS_FIXED_BLOCK_WIDTH: s->info.workgroup_size[0] = v; break;
    case TGSI_PROPERTY_CS_FIXED_BLOCK_HEIGHT: s->info.workgroup_size[1] = v; break;
    case TGSI_PROPERTY_CS_FIXED_BLOCK_DEPTH: s->info.workgroup_size[2] = v; break;
    case TGSI_PROPERTY_GS_INPUT_PRIM:
      s->info.gs.input_primitive = static_cast<shader_prim>(v);
      gs_vertices_in_ = u_vertices_per_prim(static_cast<pipe_prim_type>(v));
      s->info.gs.vertices_in = gs_vertices_in_;
      break;
    case TGSI_PROPERTY_GS_OUTPUT_PRIM: s->info.gs.output_primitive = static_cast<shader_prim>(v); break;
    case TGSI_PROPERTY_GS_MAX_OUTPUT_VERTICES: s->info.gs.vertices_out = v; break;
    case TGSI_PROPERTY_GS_INVOCATIONS: s->info.gs.invocations = v; break;
    case TGSI_PROPERTY_TCS_VERTICES_OUT:
      s->info.tess.tcs_vertices_out = v;
      tcs_vertices_out_ = v;
      break;
    case TGSI_PROPERTY_TES_PRIM_MODE:
      switch (v) {
        case PIPE_PRIM_TRIANGLES: s->info.tess._primitive_mode = TESS_PRIMITIVE_TRIANGLES; break;
        case PIPE_PRIM_QUADS: s->info.tess._primitive_mode = TESS_PRIMITIVE_QUADS; break;
        case PIPE_PRIM_LINES: s->info.tess._primitive_mode = TESS_PRIMITIVE_ISOLINES; break;
        default: fail("tessellation primitive %u is not triangles, quads or isolines", v);
      }
      break;
    case TGSI_PROPERTY_TES_SPACING:
      s->info.tess.spacing = v == PIPE_TESS_SPACING_EQUAL           ? TESS_SPACING_EQUAL
                             : v == PIPE_TESS_SPACING_FRACTIONAL_EVEN ? TESS_SPACING_FRACTIONAL_EVEN
                                                                      : TESS_SPACING_FRACTIONAL_ODD;
      break;
    case TGSI_PROPERTY_TES_VERTEX_ORDER_CW: s->info.tess.ccw = v == 0; break;
    case TGSI_PROPERTY_TES_POINT_MODE: s->info.tess.point_mode = v != 0; break;
    default:
      fail("TGSI property %s is not translated", p.Property.PropertyName < TGSI_PROPERTY_COUNT
                                                     ? tgsi_property_names[p.Property.PropertyName]
                                                     : "?");
  }
}

void Translator::declaration(const tgsi_full_declaration& d) {
  const unsigned first = d.Range.First, last = d.Range.Last;
  const unsigned count = last - first + 1;
  nir_builder* b = &b_;
  switch (d.Declaration.File) {
    case TGSI_FILE_TEMPORARY: {
      if (last >= temps_.size()) return fail("TEMP[%u] is past the scanned registers", last);
      if (d.Declaration.Array) {
        nir_variable* var = nir_local_variable_create(b->impl, glsl_array_type(glsl_vec4_type(), count, 0), "temps");
        for (unsigned i = 0; i < count; ++i) temps_[first + i] = {var, i, true};
      } else {
        for (unsigned i = first; i <= last; ++i) temps_[i] = {nir_local_variable_create(b->impl, glsl_vec4_type(), "temp"), 0, false};
      }
      return;
    }
    case TGSI_FILE_ADDRESS:
      for (unsigned i = first; i <= last && i < addr_.size(); ++i) {
        addr_[i] = nir_local_variable_create(b->impl, glsl_ivec4_type(), "addr");
      }
      if (last >= addr_.size()) fail("ADDR[%u] is past the 4 address registers", last);
      return;
    case TGSI_FILE_INPUT: {
      const bool array = d.Declaration.Array && d.Array.ArrayID != 0 && count > 1;
      if (array) return declare_input(d, first, count, true);
      for (unsigned i = first; i <= last; ++i) declare_input(d, i, 1, false);
      return;
    }
    case TGSI_FILE_OUTPUT: {
      const bool array = d.Declaration.Array && d.Array.ArrayID != 0 && count > 1;
      if (array) return declare_output(d, first, count, true);
      for (unsigned i = first; i <= last; ++i) declare_output(d, i, 1, false);
      return;
    }
    case TGSI_FILE_CONSTANT: {
      const unsigned buffer = d.Declaration.Dimension ? d.Dim.Index2D : 0;
      if (buffer >= ubo_rows_.size()) return fail("CONST[%u] is past the constant buffers", buffer);
      ubos_ = std::max(ubos_, buffer + 1);
      ubo_rows_[buffer] = std::max(ubo_rows_[buffer], last + 1);
      b->shader->info.num_ubos = ubos_;
      return;
    }
    case TGSI_FILE_SYSTEM_VALUE:
      for (unsigned i = first; i <= last && i < sysval_semantic_.size(); ++i) sysval_semantic_[i] = d.Semantic.Name;
      return;
    case TGSI_FILE_SAMPLER: return;
    case TGSI_FILE_SAMPLER_VIEW: {
      nir_alu_type t = d.SamplerView.ReturnTypeX == TGSI_RETURN_TYPE_SINT   ? nir_type_int32
                       : d.SamplerView.ReturnTypeX == TGSI_RETURN_TYPE_UINT ? nir_type_uint32
                                                                             : nir_type_float32;
      for (unsigned i = first; i <= last && i < view_types_.size(); ++i) view_types_[i] = t;
      return;
    }
    case TGSI_FILE_IMAGE:
      for (unsigned i = first; i <= last && i < images_.size(); ++i) {
        images_[i] = {true, d.Image.Resource, d.Image.Format};
      }
      if (last >= images_.size()) fail("IMAGE[%u] is past the scanned images", last);
      return;
    case TGSI_FILE_BUFFER:
      ssbos_ = std::max(ssbos_, last + 1);
      b->shader->info.num_ssbos = ssbos_;
      return;
    case TGSI_FILE_MEMORY:
      // ureg numbers MEMORY registers by memory type: MEMORY[1] is shared.
      if (stage_ != PIPE_SHADER_COMPUTE || d.Declaration.MemType != TGSI_MEMORY_TYPE_SHARED || first != last) {
        return fail("MEMORY other than a compute shader's shared memory is not translated");
      }
      shared_declared_ = true;
      // Shared memory starts zeroed, as it would start per guest: llvmpipe
      // keeps it per thread, and its threads serve every guest in-process.
      b->shader->info.zero_initialize_shared_memory = true;
      return;
    case TGSI_FILE_HW_ATOMIC: return fail("atomic counters are not translated to NIR yet");
    default: return fail("declarations of register file %u are not translated", d.Declaration.File);
  }
}

void Translator::declare_input(const tgsi_full_declaration& d, unsigned index, unsigned count, bool array) {
  nir_shader* s = b_.shader;
  const unsigned name = d.Declaration.Semantic ? d.Semantic.Name : TGSI_SEMANTIC_GENERIC;
  const unsigned sem_index = d.Declaration.Semantic ? d.Semantic.Index + (array ? 0 : index - d.Range.First) : index;
  if (index + count > inputs_.size()) return fail("IN[%u] is past the scanned inputs", index + count - 1);
  // nir_to_tgsi declares a register again for each variable packed into it
  // (the validator checked they agree): the first declaration stands.
  if (input_semantic_declared(index, count)) return;
  const glsl_type* type = glsl_vec4_type();
  nir_variable_mode mode = nir_var_shader_in;
  int location;
  switch (stage_) {
    case PIPE_SHADER_VERTEX:
      location = VERT_ATTRIB_GENERIC0 + index;
      if (index + count > MAX_VERTEX_GENERIC_ATTRIBS) return fail("vertex input %u is past the generic attributes", index);
      break;
    case PIPE_SHADER_FRAGMENT:
      if (name == TGSI_SEMANTIC_FACE) {
        type = glsl_bool_type();
        location = VARYING_SLOT_FACE;
        if (array) return fail("FACE declared as an array");
        break;
      }
      [[fallthrough]];
    default: {
      location = varying_slot(name, sem_index, screen_->get_param(screen_, PIPE_CAP_TGSI_TEXCOORD));
      if (location < 0) return fail("input semantic %s[%u] has no NIR varying", semantic_name(name), sem_index);
      break;
    }
  }
  if (sysval_input(name)) {
    // Read from system values in input(): the levels the tessellator used (a
    // control shader's, or the default ones without one), the primitive id.
    if (array) return fail("%s declared as an array", semantic_name(name));
    inputs_[index] = nullptr;
    input_base_[index] = index;
    input_semantic_[index] = name;
    input_declared_[index] = true;
    return;
  }
  if (array) type = glsl_array_type(type, count, 0);
  const bool levels = stage_ == PIPE_SHADER_TESS_EVAL && (name == TGSI_SEMANTIC_TESSOUTER || name == TGSI_SEMANTIC_TESSINNER);
  if (levels) {
    if (array) return fail("%s declared as an array", semantic_name(name));
    type = glsl_array_type(glsl_float_type(), name == TGSI_SEMANTIC_TESSOUTER ? 4 : 2, 0);
  }
  if (arrayed_input(name)) {
    if (stage_ == PIPE_SHADER_GEOMETRY && !gs_vertices_in_) return fail("a geometry shader without an input primitive");
    // Patches have up to GL's gl_MaxPatchVertices, the size GLSL gives these arrays.
    type = glsl_array_type(type, stage_ == PIPE_SHADER_GEOMETRY ? gs_vertices_in_ : MAX_PATCH_VERTICES, 0);
  }
  nir_variable* var = nir_variable_create(s, mode, type, "in");
  var->data.location = location;
  var->data.patch = stage_ == PIPE_SHADER_TESS_EVAL && patch_semantic(name);
  var->data.compact = levels;
  var->data.driver_location = index;
  var->data.read_only = true;
  if (d.Declaration.Interpolate) {
    var->data.interpolation = interp_mode(d.Interp.Interpolate);
    var->data.centroid = d.Interp.Location == TGSI_INTERPOLATE_LOC_CENTROID;
    var->data.sample = d.Interp.Location == TGSI_INTERPOLATE_LOC_SAMPLE;
  }
  for (unsigned i = 0; i < count; ++i) {
    inputs_[index + i] = var;
    input_base_[index + i] = index;
    input_semantic_[index + i] = name;
    input_declared_[index + i] = true;
    input_array_[index + i] = array;
  }
}

void Translator::declare_output(const tgsi_full_declaration& d, unsigned index, unsigned count, bool array) {
  nir_shader* s = b_.shader;
  if (index + count > outputs_.size()) return fail("OUT[%u] is past the scanned outputs", index + count - 1);
  bool seen = false;  // declared again for another variable packed into it: the first declaration stands
  for (unsigned i = 0; i < count; ++i) seen |= outputs_[index + i].var != nullptr;
  if (seen && (count > 1 || outputs_[index].array)) return fail("OUT[%u] is declared again as part of an array", index);
  if (seen) return;
  const unsigned name = d.Semantic.Name;
  if (stage_ == PIPE_SHADER_TESS_CTRL) {
    // Written and read in place: invocations read each other's outputs.
    const int location = varying_slot(name, d.Semantic.Index, screen_->get_param(screen_, PIPE_CAP_TGSI_TEXCOORD));
    if (location < 0) return fail("output semantic %s[%u] has no NIR varying", semantic_name(name), d.Semantic.Index);
    if (location == VARYING_SLOT_CLIP_DIST0 || location == VARYING_SLOT_CLIP_DIST1) {
      if (screen_->get_param(screen_, PIPE_CAP_NIR_COMPACT_ARRAYS)) {
        return fail("clip distances for a driver with compact arrays are not translated yet");
      }
    }
    const bool patch = patch_semantic(name);
    if ((location == VARYING_SLOT_TESS_LEVEL_OUTER || location == VARYING_SLOT_TESS_LEVEL_INNER) &&
        screen_->get_param(screen_, PIPE_CAP_NIR_COMPACT_ARRAYS)) {
      // SPIR-V's TessLevelOuter/Inner are float[4] and float[2]: GLSL's
      // compact arrays; a vec4 there was read as no levels (nothing drawn).
      if (array || count != 1) return fail("tessellation levels declared as an array");
      const unsigned n = location == VARYING_SLOT_TESS_LEVEL_OUTER ? 4 : 2;
      nir_variable* var = nir_variable_create(s, nir_var_shader_out, glsl_array_type(glsl_float_type(), n, 0), "levels");
      var->data.location = location;
      var->data.driver_location = index;
      var->data.patch = true;
      var->data.compact = true;
      outputs_[index] = {var, 0, false};
      output_semantic_[index] = name;
      return;
    }
    const glsl_type* type = array ? glsl_array_type(glsl_vec4_type(), count, 0) : glsl_vec4_type();
    if (!patch) type = glsl_array_type(type, tcs_vertices_out_, 0);
    nir_variable* var = nir_variable_create(s, nir_var_shader_out, type, "out");
    var->data.location = location;
    var->data.driver_location = index;
    var->data.patch = patch;
    for (unsigned i = 0; i < count; ++i) {
      outputs_[index + i] = {var, i, array};
      output_semantic_[index + i] = name;
    }
    return;
  }
  // The registers TGSI writes (and may read back); copied to the variables below at the end.
  nir_variable* regs = nir_local_variable_create(
      b_.impl, array ? glsl_array_type(glsl_vec4_type(), count, 0) : glsl_vec4_type(), "out_regs");
  for (unsigned i = 0; i < count; ++i) {
    const unsigned reg = index + i;
    const unsigned sem_index = d.Semantic.Index + i;
    outputs_[reg] = {regs, i, array};
    output_semantic_[reg] = name;
    const glsl_type* type = glsl_vec4_type();
    int location;
    if (stage_ == PIPE_SHADER_FRAGMENT) {
      switch (name) {
        case TGSI_SEMANTIC_COLOR:
          location = s->info.stage == MESA_SHADER_FRAGMENT && scan_.properties[TGSI_PROPERTY_FS_COLOR0_WRITES_ALL_CBUFS]
                         ? FRAG_RESULT_COLOR
                         : FRAG_RESULT_DATA0 + sem_index;
          if (sem_index >= 8) return fail("fragment output COLOR[%u] is past the 8 color buffers", sem_index);
          if (location == FRAG_RESULT_COLOR && sem_index > 1) {
            return fail("COLOR[%u] beside COLOR0_WRITES_ALL_CBUFS (only a second source, COLOR[1])", sem_index);
          }
          break;
        case TGSI_SEMANTIC_POSITION: location = FRAG_RESULT_DEPTH; type = glsl_float_type(); break;
        case TGSI_SEMANTIC_STENCIL: location = FRAG_RESULT_STENCIL; type = glsl_int_type(); break;
        case TGSI_SEMANTIC_SAMPLEMASK: location = FRAG_RESULT_SAMPLE_MASK; type = glsl_int_type(); break;
        default: return fail("fragment output semantic %s is not translated", semantic_name(name));
      }
    } else {
      location = varying_slot(name, sem_index, screen_->get_param(screen_, PIPE_CAP_TGSI_TEXCOORD));
      if (location < 0) return fail("output semantic %s[%u] has no NIR varying", semantic_name(name), sem_index);
      if (location == VARYING_SLOT_PSIZ || location == VARYING_SLOT_FOGC) type = glsl_float_type();
      if (location == VARYING_SLOT_LAYER || location == VARYING_SLOT_VIEWPORT) type = glsl_int_type();
      if ((location == VARYING_SLOT_CLIP_DIST0 || location == VARYING_SLOT_CLIP_DIST1) &&
          screen_->get_param(screen_, PIPE_CAP_NIR_COMPACT_ARRAYS)) {
        declare_compact_distances(reg, sem_index);
        continue;
      }
    }
    nir_variable* var = nir_variable_create(s, nir_var_shader_out, type, "out");
    var->data.location = location;
    var->data.driver_location = reg;
    // gl_FragColor with gl_SecondaryFragColorEXT (dual-source blending):
    // the second source is the same location's index 1, as GLSL has it.
    if (stage_ == PIPE_SHADER_FRAGMENT && location == FRAG_RESULT_COLOR) var->data.index = sem_index;
    if (d.Declaration.Interpolate) {
      var->data.interpolation = interp_mode(d.Interp.Interpolate);
      var->data.centroid = d.Interp.Location == TGSI_INTERPOLATE_LOC_CENTROID;
      var->data.sample = d.Interp.Location == TGSI_INTERPOLATE_LOC_SAMPLE;
    }
    if (stage_ == PIPE_SHADER_GEOMETRY) var->data.stream = d.Semantic.StreamX;
    output_vars_[reg] = var;
  }
}

void Translator::immediate(const tgsi_full_immediate& im) {
  // Any type, 64-bit ones included (two halves per value): the raw bits.
  nir_const_value v[4];
  for (unsigned i = 0; i < 4; ++i) v[i] = nir_const_value_for_raw_uint(i < im.Immediate.NrTokens - 1 ? im.u[i].Uint : 0, 32);
  imms_.push_back(nir_build_imm(&b_, 4, 32, v));
}

// The index an indirect register names: channel Swizzle of its register, an integer.
nir_ssa_def* Translator::indirect_index(const tgsi_ind_register& ind) {
  tgsi_full_src_register r{};
  r.Register.File = ind.File;
  r.Register.Index = ind.Index;
  r.Register.SwizzleX = r.Register.SwizzleY = r.Register.SwizzleZ = r.Register.SwizzleW = ind.Swizzle;
  if (ind.File != TGSI_FILE_ADDRESS && ind.File != TGSI_FILE_TEMPORARY) {
    fail("indirect addressing through register file %u is not translated", ind.File);
    return nir_imm_int(&b_, 0);
  }
  return nir_channel(&b_, fetch(r), 0);
}

// Indirect indices are clamped into the array they address: the driver
// indexes real memory with them.
nir_deref_instr* Translator::reg_deref(std::vector<Reg>& file, unsigned index, const tgsi_ind_register* ind,
                                       bool has_ind, const char* what) {
  nir_builder* b = &b_;
  if (index >= file.size() || !file[index].var) {
    fail("%s[%u] is not declared", what, index);
    return nullptr;
  }
  return element_deref(nir_build_deref_var(b, file[index].var), file[index], ind, has_ind, what, index);
}

nir_deref_instr* Translator::element_deref(nir_deref_instr* d, const Reg& r, const tgsi_ind_register* ind, bool has_ind,
                                           const char* what, unsigned index) {
  nir_builder* b = &b_;
  if (!r.array) {
    if (has_ind) fail("indirect access to %s[%u], which is not in an array", what, index);
    return d;
  }
  if (!has_ind) return nir_build_deref_array_imm(b, d, r.offset);
  const unsigned len = glsl_get_length(d->type);
  nir_ssa_def* i = nir_iadd_imm(b, indirect_index(*ind), r.offset);
  return nir_build_deref_array(b, d, nir_umin(b, i, nir_imm_int(b, len - 1)));
}

nir_deref_instr* Translator::vertex_deref(nir_deref_instr* d, const Dim& dim) {
  nir_builder* b = &b_;
  nir_ssa_def* v = nir_imm_int(b, dim.index);
  if (dim.indirect) v = nir_iadd(b, v, indirect_index(dim.ind));
  return nir_build_deref_array(b, d, nir_umin(b, v, nir_imm_int(b, glsl_get_length(d->type) - 1)));
}

bool Translator::compact_levels(unsigned index) const {
  return index < outputs_.size() && outputs_[index].var && outputs_[index].var->data.compact &&
         (outputs_[index].var->data.location == VARYING_SLOT_TESS_LEVEL_OUTER ||
          outputs_[index].var->data.location == VARYING_SLOT_TESS_LEVEL_INNER);
}

nir_deref_instr* Translator::tcs_output_deref(unsigned index, const tgsi_ind_register* ind, bool has_ind, const Dim& dim) {
  if (index >= outputs_.size() || !outputs_[index].var) {
    fail("OUT[%u] is not declared", index);
    return nullptr;
  }
  const Reg& r = outputs_[index];
  nir_deref_instr* d = nir_build_deref_var(&b_, r.var);
  if (r.var->data.patch) {
    if (dim.present) fail("per-patch output OUT[%u] addressed with a vertex", index);
  } else {
    if (!dim.present) fail("per-vertex output OUT[%u] addressed without a vertex", index);
    d = vertex_deref(d, dim);
  }
  return failed() ? nullptr : element_deref(d, r, ind, has_ind, "OUT", index);
}

bool Translator::input_semantic_declared(unsigned index, unsigned count) {
  bool seen = false, in_array = false;
  for (unsigned i = 0; i < count; ++i) {
    seen |= input_declared_[index + i];
    in_array |= input_declared_[index + i] && input_array_[index + i];
  }
  if (seen && (count > 1 || in_array)) fail("IN[%u] is declared again as part of an array", index);
  return seen;
}

bool Translator::arrayed_input(unsigned semantic) const {
  if (sysval_input(semantic)) return false;
  return stage_ == PIPE_SHADER_GEOMETRY || stage_ == PIPE_SHADER_TESS_CTRL ||
         (stage_ == PIPE_SHADER_TESS_EVAL && !patch_semantic(semantic));
}

bool Translator::sysval_input(unsigned semantic) const {
  if (semantic == TGSI_SEMANTIC_PRIMID) return stage_ != PIPE_SHADER_FRAGMENT;
  return stage_ == PIPE_SHADER_TESS_EVAL && (semantic == TGSI_SEMANTIC_TESSOUTER || semantic == TGSI_SEMANTIC_TESSINNER) &&
         !levels_as_inputs();
}

// Drivers that read an evaluation shader's levels as patch inputs
// (PIPE_CAP_GLSL_TESS_LEVELS_AS_INPUTS: zink, whose SPIR-V has them as
// TessLevelOuter/Inner float arrays; as system values it read none) get
// them as compact float arrays, read per element.
bool Translator::levels_as_inputs() const {
  return screen_->get_param(screen_, PIPE_CAP_GLSL_TESS_LEVELS_AS_INPUTS) &&
         screen_->get_param(screen_, PIPE_CAP_NIR_COMPACT_ARRAYS);
}

nir_ssa_def* Translator::input(unsigned index, const tgsi_full_src_register& r) {
  nir_builder* b = &b_;
  if (index < inputs_.size() && !inputs_[index] && sysval_input(input_semantic_[index])) {
    if (r.Register.Indirect || interp_op_) {
      fail("indirect access to IN[%u], a system value", index);
      return nir_imm_zero(b, 4, 32);
    }
    switch (input_semantic_[index]) {
      case TGSI_SEMANTIC_TESSOUTER: return nir_load_tess_level_outer(b);
      case TGSI_SEMANTIC_TESSINNER: return widen(b, nir_load_tess_level_inner(b));
      default: return widen(b, nir_load_primitive_id(b));
    }
  }
  if (index >= inputs_.size() || !inputs_[index]) {
    fail("IN[%u] is not declared", index);
    return nir_imm_zero(b, 4, 32);
  }
  nir_variable* var = inputs_[index];
  if (var->data.compact && var->data.patch) {  // tessellation levels (levels_as_inputs)
    if (r.Register.Indirect || interp_op_) {
      fail("indirect access to IN[%u], the tessellation levels", index);
      return nir_imm_zero(b, 4, 32);
    }
    nir_ssa_def* c[4];
    for (unsigned i = 0; i < 4; ++i) {
      c[i] = i < glsl_get_length(var->type) ? nir_load_deref(b, nir_build_deref_array_imm(b, nir_build_deref_var(b, var), i))
                                            : nir_imm_float(b, 0.0f);
    }
    return nir_vec(b, c, 4);
  }
  if (r.Register.Indirect && !glsl_type_is_array(arrayed_input(input_semantic_[index]) ? glsl_get_array_element(var->type)
                                                                                         : var->type)) {
    // Inputs declared one by one are indexed as one file: choose among them
    // (an index outside the file reads zeros).
    nir_ssa_def* at = nir_iadd_imm(b, indirect_index(r.Indirect), index);
    nir_ssa_def* value = nir_imm_zero(b, 4, 32);
    for (unsigned k = 0; k < inputs_.size() && !failed(); ++k) {
      // (per-vertex and per-patch inputs are separate files to NIR)
      if (!inputs_[k] || arrayed_input(input_semantic_[k]) != arrayed_input(input_semantic_[index])) continue;
      tgsi_full_src_register direct = r;
      direct.Register.Indirect = 0;
      direct.Register.Index = k;
      value = nir_bcsel(b, nir_ieq_imm(b, at, k), input(k, direct), value);
    }
    return value;
  }
  if (var->data.location == VARYING_SLOT_FACE && stage_ == PIPE_SHADER_FRAGMENT) {
    if (interp_op_) {
      fail("%s of the FACE input", op_name(interp_op_));
      return nir_imm_zero(b, 4, 32);
    }
    // TGSI's FACE input: (+1.0 front / -1.0 back, 0, 0, 1).
    nir_ssa_def* front = nir_load_var(b, var);
    return nir_vec4(b, nir_bcsel(b, front, nir_imm_float(b, 1.0f), nir_imm_float(b, -1.0f)), nir_imm_float(b, 0.0f),
                    nir_imm_float(b, 0.0f), nir_imm_float(b, 1.0f));
  }
  nir_deref_instr* d = nir_build_deref_var(b, var);
  if (arrayed_input(input_semantic_[index])) {
    if (!r.Register.Dimension) {
      fail("per-vertex input IN[%u] read without a vertex index", index);
      return nir_imm_zero(b, 4, 32);
    }
    d = vertex_deref(d, dim_of(r));
  } else if (r.Register.Dimension) {
    fail("IN[%u] read with a second dimension, but it has none", index);
    return nir_imm_zero(b, 4, 32);
  }
  const bool array = glsl_type_is_array(d->type);
  if (array) {
    const unsigned len = glsl_get_length(d->type);
    nir_ssa_def* i = nir_imm_int(b, index - input_base_[index]);
    if (r.Register.Indirect) i = nir_umin(b, nir_iadd(b, i, indirect_index(r.Indirect)), nir_imm_int(b, len - 1));
    d = nir_build_deref_array(b, d, i);
  } else if (r.Register.Indirect) {
    fail("indirect access to IN[%u], which is not in an array", index);
  }
  switch (interp_op_) {
    case TGSI_OPCODE_INTERP_CENTROID: return nir_interp_deref_at_centroid(b, 4, 32, &d->dest.ssa);
    case TGSI_OPCODE_INTERP_SAMPLE: return nir_interp_deref_at_sample(b, 4, 32, &d->dest.ssa, interp_arg_);
    case TGSI_OPCODE_INTERP_OFFSET: return nir_interp_deref_at_offset(b, 4, 32, &d->dest.ssa, interp_arg_);
    default: return nir_load_deref(b, d);
  }
}

nir_ssa_def* Translator::system_value(unsigned index) {
  nir_builder* b = &b_;
  const unsigned sem = index < sysval_semantic_.size() ? sysval_semantic_[index] : TGSI_SEMANTIC_COUNT;
  nir_ssa_def* v = nullptr;
  switch (sem) {
    case TGSI_SEMANTIC_VERTEXID: v = nir_load_vertex_id(b); break;
    case TGSI_SEMANTIC_VERTEXID_NOBASE: v = nir_load_vertex_id_zero_base(b); break;
    case TGSI_SEMANTIC_BASEVERTEX: v = nir_load_base_vertex(b); break;
    case TGSI_SEMANTIC_BASEINSTANCE: v = nir_load_base_instance(b); break;
    case TGSI_SEMANTIC_DRAWID: v = nir_load_draw_id(b); break;
    case TGSI_SEMANTIC_INSTANCEID:
      if (stage_ != PIPE_SHADER_VERTEX) break;
      v = nir_load_instance_id(b);
      break;
    case TGSI_SEMANTIC_INVOCATIONID: v = nir_load_invocation_id(b); break;
    case TGSI_SEMANTIC_PRIMID: v = nir_load_primitive_id(b); break;
    case TGSI_SEMANTIC_SAMPLEID: v = nir_load_sample_id(b); break;
    case TGSI_SEMANTIC_SAMPLEMASK: v = nir_load_sample_mask_in(b); break;
    case TGSI_SEMANTIC_SAMPLEPOS: v = nir_load_sample_pos(b); break;
    case TGSI_SEMANTIC_FACE:
      // PIPE_CAP_FS_FACE_IS_INTEGER_SYSVAL: (~0 front / 0 back, 0, 0, 1).
      return nir_vec4(b, nir_bcsel(b, nir_load_front_face(b, 1), nir_imm_int(b, -1), nir_imm_int(b, 0)),
                      nir_imm_int(b, 0), nir_imm_int(b, 0), nir_imm_int(b, 1));
    case TGSI_SEMANTIC_HELPER_INVOCATION:
      v = nir_bcsel(b, nir_load_helper_invocation(b, 1), nir_imm_int(b, -1), nir_imm_int(b, 0));
      break;
    case TGSI_SEMANTIC_TESSCOORD: v = nir_load_tess_coord(b); break;
    case TGSI_SEMANTIC_TESSOUTER: v = nir_load_tess_level_outer(b); break;
    case TGSI_SEMANTIC_TESSINNER: v = nir_load_tess_level_inner(b); break;
    case TGSI_SEMANTIC_VERTICESIN: v = nir_load_patch_vertices_in(b); break;
    case TGSI_SEMANTIC_THREAD_ID: v = nir_load_local_invocation_id(b); break;
    case TGSI_SEMANTIC_BLOCK_ID: v = nir_load_workgroup_id(b, 32); break;
    case TGSI_SEMANTIC_GRID_SIZE: v = nir_load_num_workgroups(b, 32); break;
    default: break;
  }
  if (!v) {
    fail("system value %s is not translated for this stage", semantic_name(sem));
    return nir_imm_zero(b, 4, 32);
  }
  return widen(b, v);
}

nir_ssa_def* Translator::fetch(const tgsi_full_src_register& r) {
  nir_builder* b = &b_;
  const unsigned index = r.Register.Index;
  if (std::vector<Reg>* regs = lone_indirect(r.Register.File, r.Register.Index, r.Register.Indirect)) {
    nir_ssa_def* at = nir_iadd_imm(b, indirect_index(r.Indirect), r.Register.Index);
    nir_ssa_def* value = nir_imm_zero(b, 4, 32);
    for (unsigned k = 0; k < regs->size() && !failed(); ++k) {
      if (!same_kind((*regs)[k], (*regs)[r.Register.Index])) continue;
      tgsi_full_src_register direct = r;
      direct.Register.Indirect = 0;
      direct.Register.Index = k;
      value = nir_bcsel(b, nir_ieq_imm(b, at, k), fetch(direct), value);
    }
    return value;
  }
  switch (r.Register.File) {
    case TGSI_FILE_TEMPORARY: {
      if (r.Register.Dimension) break;
      nir_deref_instr* d = reg_deref(temps_, index, &r.Indirect, r.Register.Indirect, "TEMP");
      return d ? nir_load_deref(b, d) : nir_imm_zero(b, 4, 32);
    }
    case TGSI_FILE_OUTPUT: {
      nir_deref_instr* d = nullptr;
      if (stage_ == PIPE_SHADER_TESS_CTRL && compact_levels(index)) {
        if (r.Register.Indirect || r.Register.Dimension) {
          fail("tessellation levels addressed indirectly or with a vertex");
          return nir_imm_zero(b, 4, 32);
        }
        nir_variable* var = outputs_[index].var;
        nir_ssa_def* c[4];
        for (unsigned i = 0; i < 4; ++i) {
          c[i] = i < glsl_get_length(var->type)
                     ? nir_load_deref(b, nir_build_deref_array_imm(b, nir_build_deref_var(b, var), i))
                     : nir_imm_float(b, 0.0f);
        }
        return nir_vec(b, c, 4);
      }
      if (stage_ == PIPE_SHADER_TESS_CTRL) {
        d = tcs_output_deref(index, &r.Indirect, r.Register.Indirect, dim_of(r));
      } else {
        if (r.Register.Dimension) break;
        d = reg_deref(outputs_, index, &r.Indirect, r.Register.Indirect, "OUT");
      }
      return d ? nir_load_deref(b, d) : nir_imm_zero(b, 4, 32);
    }
    case TGSI_FILE_ADDRESS:
      if (index >= addr_.size() || !addr_[index]) {
        fail("ADDR[%u] is not declared", index);
        return nir_imm_zero(b, 4, 32);
      }
      return nir_load_var(b, addr_[index]);
    case TGSI_FILE_IMMEDIATE:
      if (r.Register.Indirect || r.Register.Dimension) {
        fail("indirect access to immediates is not translated");
        return nir_imm_zero(b, 4, 32);
      }
      if (index >= imms_.size()) {
        fail("IMM[%u] is not declared before its use", index);
        return nir_imm_zero(b, 4, 32);
      }
      return imms_[index];
    case TGSI_FILE_INPUT: return input(index, r);
    case TGSI_FILE_SYSTEM_VALUE:
      if (r.Register.Indirect || r.Register.Dimension) break;
      return system_value(index);
    case TGSI_FILE_CONSTANT: {
      // CONST[buffer][index] is a 16-byte row of constant buffer `buffer`;
      // the driver bounds-checks the load against the bound buffer's size.
      nir_ssa_def* buffer = nir_imm_int(b, r.Register.Dimension ? r.Dimension.Index : 0);
      if (r.Register.Dimension && r.Dimension.Indirect) {
        buffer = nir_umin(b, nir_iadd(b, buffer, indirect_index(r.DimIndirect)), nir_imm_int(b, ubos_ ? ubos_ - 1 : 0));
      }
      nir_ssa_def* row = nir_imm_int(b, index);
      if (r.Register.Indirect) row = nir_iadd(b, row, indirect_index(r.Indirect));
      _nir_load_ubo_indices idx{};
      idx.align_mul = 16;
      idx.range = ~0u;
      return _nir_build_load_ubo(b, 4, 32, buffer, nir_ishl(b, row, nir_imm_int(b, 4)), idx);
    }
    default: break;
  }
  fail("%s reads of register file %u are not translated",
       r.Register.Indirect || r.Register.Dimension ? "indirect or 2D" : "", r.Register.File);
  return nir_imm_zero(b, 4, 32);
}

nir_ssa_def* Translator::src(const tgsi_full_src_register& r, tgsi_opcode_type type) {
  nir_builder* b = &b_;
  nir_ssa_def* v = fetch(r);
  const unsigned swiz[4] = {r.Register.SwizzleX, r.Register.SwizzleY, r.Register.SwizzleZ, r.Register.SwizzleW};
  v = nir_swizzle(b, v, swiz, 4);
  const bool integer = type == TGSI_TYPE_SIGNED || type == TGSI_TYPE_UNSIGNED;
  if (type == TGSI_TYPE_DOUBLE || type == TGSI_TYPE_SIGNED64 || type == TGSI_TYPE_UNSIGNED64) {
    if (r.Register.Absolute || r.Register.Negate) fail("modifiers on 64-bit sources are not translated");
    return v;
  }
  if (r.Register.Absolute) v = integer ? nir_iabs(b, v) : nir_fabs(b, v);
  if (r.Register.Negate) v = integer ? nir_ineg(b, v) : nir_fneg(b, v);
  return v;
}

nir_ssa_def* Translator::src(unsigned i, tgsi_opcode_type type) {
  if (i >= inst_->Instruction.NumSrcRegs) {
    fail("%s has no source %u", op_name(inst_->Instruction.Opcode), i);
    return nir_imm_zero(&b_, 4, 32);
  }
  return src(inst_->Src[i], type);
}

nir_ssa_def* Translator::src_chan(unsigned i, unsigned chan, tgsi_opcode_type type) {
  return nir_channel(&b_, src(i, type), chan);
}

void Translator::store_dst(nir_ssa_def* value, bool is_float) {
  nir_builder* b = &b_;
  if (failed() || inst_->Instruction.NumDstRegs == 0) return;
  const tgsi_full_dst_register& d = inst_->Dst[0];
  value = splat(b, value);
  if (inst_->Instruction.Saturate && is_float) value = nir_fsat(b, value);
  write(d, value);
}

// Per-vertex and per-patch outputs of a tessellation control shader are
// separate files to NIR: an indirect access stays within its own.
bool Translator::same_kind(const Reg& a, const Reg& b) const {
  return a.var && b.var && a.var->data.mode == b.var->data.mode && a.var->data.patch == b.var->data.patch;
}

std::vector<Translator::Reg>* Translator::lone_indirect(unsigned file, int index, bool indirect) {
  if (!indirect) return nullptr;
  std::vector<Reg>* regs = file == TGSI_FILE_TEMPORARY ? &temps_ : file == TGSI_FILE_OUTPUT ? &outputs_ : nullptr;
  if (!regs || index < 0 || unsigned(index) >= regs->size() || !(*regs)[index].var || (*regs)[index].array) return nullptr;
  return regs;
}

void Translator::write(const tgsi_full_dst_register& d, nir_ssa_def* value) {
  nir_builder* b = &b_;
  if (std::vector<Reg>* regs = lone_indirect(d.Register.File, d.Register.Index, d.Register.Indirect)) {
    nir_ssa_def* at = nir_iadd_imm(b, indirect_index(d.Indirect), d.Register.Index);
    for (unsigned k = 0; k < regs->size() && !failed(); ++k) {
      if (!same_kind((*regs)[k], (*regs)[d.Register.Index])) continue;
      tgsi_full_dst_register direct = d;
      direct.Register.Indirect = 0;
      direct.Register.Index = k;
      nir_if* nif = nir_push_if(b, nir_ieq_imm(b, at, k));
      write(direct, value);
      nir_pop_if(b, nif);
    }
    return;
  }
  if (d.Register.Dimension && !(stage_ == PIPE_SHADER_TESS_CTRL && d.Register.File == TGSI_FILE_OUTPUT)) {
    return fail("2D destinations are not translated");
  }
  nir_deref_instr* deref = nullptr;
  switch (d.Register.File) {
    case TGSI_FILE_NULL: return;
    case TGSI_FILE_OUTPUT:
      if (stage_ != PIPE_SHADER_TESS_CTRL) {
        deref = reg_deref(outputs_, d.Register.Index, &d.Indirect, d.Register.Indirect, "OUT");
        break;
      }
      if (compact_levels(d.Register.Index)) {
        if (d.Register.Indirect || d.Register.Dimension) return fail("tessellation levels written indirectly or with a vertex");
        nir_variable* var = outputs_[d.Register.Index].var;
        for (unsigned i = 0; i < glsl_get_length(var->type); ++i) {
          if (!(d.Register.WriteMask & (1u << i))) continue;
          nir_store_deref(b, nir_build_deref_array_imm(b, nir_build_deref_var(b, var), i), nir_channel(b, value, i), 1);
        }
        return;
      }
      deref = tcs_output_deref(d.Register.Index, &d.Indirect, d.Register.Indirect, dim_of(d));
      break;
    case TGSI_FILE_TEMPORARY: deref = reg_deref(temps_, d.Register.Index, &d.Indirect, d.Register.Indirect, "TEMP"); break;
    case TGSI_FILE_ADDRESS:
      if (d.Register.Index >= addr_.size() || !addr_[d.Register.Index] || d.Register.Indirect) {
        return fail("ADDR[%u] is not a writable address register", d.Register.Index);
      }
      deref = nir_build_deref_var(b, addr_[d.Register.Index]);
      break;
    default: return fail("writes to register file %u are not translated", d.Register.File);
  }
  if (deref) nir_store_deref(b, deref, value, d.Register.WriteMask);
}

nir_ssa_def* Translator::cond_true(nir_ssa_def* v, bool integer) {
  return integer ? nir_ine(&b_, v, nir_imm_int(&b_, 0)) : nir_fneu(&b_, v, nir_imm_float(&b_, 0.0f));
}

void Translator::jump(nir_jump_type type) {
  nir_if* nif = nir_push_if(&b_, nir_imm_true(&b_));
  nir_jump(&b_, type);
  nir_pop_if(&b_, nif);
}

bool Translator::control_flow(unsigned op) {
  nir_builder* b = &b_;
  switch (op) {
    case TGSI_OPCODE_IF:
    case TGSI_OPCODE_UIF: {
      nir_ssa_def* c = cond_true(src_chan(0, 0, op == TGSI_OPCODE_UIF ? TGSI_TYPE_UNSIGNED : TGSI_TYPE_FLOAT),
                                 op == TGSI_OPCODE_UIF);
      open_.push_back({nir_push_if(b, c), nullptr});
      return true;
    }
    case TGSI_OPCODE_ELSE:
      if (open_.empty() || !open_.back().nif) return fail("ELSE without IF"), true;
      nir_push_else(b, open_.back().nif);
      return true;
    case TGSI_OPCODE_ENDIF:
      if (open_.empty() || !open_.back().nif) return fail("ENDIF without IF"), true;
      nir_pop_if(b, open_.back().nif);
      open_.pop_back();
      return true;
    case TGSI_OPCODE_BGNLOOP:
      open_.push_back({nullptr, nir_push_loop(b)});
      ++loop_depth_;
      return true;
    case TGSI_OPCODE_ENDLOOP:
      if (open_.empty() || !open_.back().loop) return fail("ENDLOOP without BGNLOOP"), true;
      nir_pop_loop(b, open_.back().loop);
      open_.pop_back();
      --loop_depth_;
      return true;
    case TGSI_OPCODE_BRK:
    case TGSI_OPCODE_CONT:
      if (!loop_depth_) return fail("%s outside a loop", op_name(op)), true;
      jump(op == TGSI_OPCODE_BRK ? nir_jump_break : nir_jump_continue);
      return true;
    case TGSI_OPCODE_KILL:
      if (stage_ != PIPE_SHADER_FRAGMENT) return fail("KILL outside a fragment shader"), true;
      nir_discard(b);
      b->shader->info.fs.uses_discard = true;
      return true;
    case TGSI_OPCODE_KILL_IF: {
      if (stage_ != PIPE_SHADER_FRAGMENT) return fail("KILL_IF outside a fragment shader"), true;
      nir_ssa_def* v = src(0, TGSI_TYPE_FLOAT);
      nir_ssa_def* any = nir_flt(b, nir_channel(b, v, 0), nir_imm_float(b, 0.0f));
      for (unsigned c = 1; c < 4; ++c) any = nir_ior(b, any, nir_flt(b, nir_channel(b, v, c), nir_imm_float(b, 0.0f)));
      nir_discard_if(b, any);
      b->shader->info.fs.uses_discard = true;
      return true;
    }
    case TGSI_OPCODE_NOP: return true;
    case TGSI_OPCODE_RET:
    case TGSI_OPCODE_SWITCH:
    case TGSI_OPCODE_CASE:
    case TGSI_OPCODE_DEFAULT:
    case TGSI_OPCODE_ENDSWITCH:
    case TGSI_OPCODE_CAL:
    case TGSI_OPCODE_BGNSUB:
    case TGSI_OPCODE_ENDSUB:
      fail("%s is not translated (Mesa's GL frontend does not emit it)", op_name(op));
      return true;
    default: return false;
  }
}

// Geometry-shader vertices, barriers.
bool Translator::misc(unsigned op) {
  nir_builder* b = &b_;
  switch (op) {
    case TGSI_OPCODE_EMIT:
    case TGSI_OPCODE_ENDPRIM: {
      if (stage_ != PIPE_SHADER_GEOMETRY) return fail("%s outside a geometry shader", op_name(op)), true;
      const tgsi_full_src_register& r = inst_->Src[0];
      if (r.Register.File != TGSI_FILE_IMMEDIATE || r.Register.Index >= imms_.size()) {
        return fail("%s needs its stream as an immediate", op_name(op)), true;
      }
      const nir_const_value* cv = nir_src_as_const_value(nir_src_for_ssa(imms_[r.Register.Index]));
      const unsigned stream = cv ? cv[r.Register.SwizzleX].u32 : 0;
      if (stream >= 4) return fail("%s to stream %u", op_name(op), stream), true;
      if (op == TGSI_OPCODE_EMIT) {
        store_outputs();
        _nir_emit_vertex_indices idx{};
        idx.stream_id = stream;
        _nir_build_emit_vertex(b, idx);
      } else {
        _nir_end_primitive_indices idx{};
        idx.stream_id = stream;
        _nir_build_end_primitive(b, idx);
      }
      b->shader->info.gs.active_stream_mask |= 1u << stream;
      return true;
    }
    case TGSI_OPCODE_BARRIER:
      if (stage_ != PIPE_SHADER_COMPUTE && stage_ != PIPE_SHADER_TESS_CTRL) {
        return fail("BARRIER outside a compute or tessellation control shader"), true;
      }
      if (b->shader->options->use_scoped_barrier) {
        nir_scoped_barrier(b, NIR_SCOPE_WORKGROUP, NIR_SCOPE_WORKGROUP, NIR_MEMORY_ACQ_REL, nir_var_mem_shared);
      } else {
        // Drivers without scoped barriers (zink 22.3's SPIR-V has none: the
        // worker died on barrier()) take glsl_to_nir's pair.
        if (stage_ == PIPE_SHADER_TESS_CTRL) nir_memory_barrier_tcs_patch(b);
        else nir_memory_barrier_shared(b);
        nir_control_barrier(b);
      }
      return true;
    case TGSI_OPCODE_FBFETCH: {
      // The colour buffer's pixel under the fragment (advanced blending,
      // framebuffer fetch): a load of the output variable marked as such.
      const tgsi_full_src_register& r = inst_->Src[0];
      if (stage_ != PIPE_SHADER_FRAGMENT || r.Register.File != TGSI_FILE_OUTPUT || r.Register.Indirect ||
          r.Register.Dimension || r.Register.Index < 0 || unsigned(r.Register.Index) >= output_vars_.size() ||
          !output_vars_[r.Register.Index]) {
        return fail("FBFETCH reads a declared fragment-shader output"), true;
      }
      nir_variable* var = output_vars_[r.Register.Index];
      // The driver fetches colour buffers 0..7 by location (llvmpipe indexes
      // its colour-buffer table with location - FRAG_RESULT_DATA0).
      if (var->data.location < FRAG_RESULT_DATA0 || var->data.location > FRAG_RESULT_DATA7) {
        return fail("FBFETCH of an output that is not one colour buffer"), true;
      }
      var->data.fb_fetch_output = true;
      b->shader->info.fs.uses_fbfetch_output = true;
      nir_ssa_def* v = nir_load_var(b, var);
      const unsigned swiz[4] = {r.Register.SwizzleX, r.Register.SwizzleY, r.Register.SwizzleZ, r.Register.SwizzleW};
      store_dst(nir_swizzle(b, v, swiz, 4), false);
      return true;
    }
    case TGSI_OPCODE_MEMBAR:
      // Not nir_scoped_memory_barrier: llvmpipe compiles every scoped barrier
      // as a workgroup execution barrier, which exists in compute shaders
      // only (memoryBarrier() in a vertex shader crashed the worker). The
      // memory-only intrinsics order memory for every driver, and llvmpipe,
      // coherent already, has nothing to do for them.
      nir_memory_barrier(b);
      return true;
    default: return false;
  }
}

// interpolateAt*(): the input read through src0 is interpolated at the
// centroid, a sample or an offset instead of loaded (read_input).
bool Translator::interpolate(unsigned op) {
  if (op != TGSI_OPCODE_INTERP_CENTROID && op != TGSI_OPCODE_INTERP_SAMPLE && op != TGSI_OPCODE_INTERP_OFFSET) {
    return false;
  }
  nir_builder* b = &b_;
  if (stage_ != PIPE_SHADER_FRAGMENT || inst_->Src[0].Register.File != TGSI_FILE_INPUT) {
    return fail("%s interpolates a fragment-shader input", op_name(op)), true;
  }
  interp_arg_ = nullptr;
  if (op == TGSI_OPCODE_INTERP_SAMPLE) {
    // The driver looks the sample's position up in a table of its sample
    // count: an index past it reads other memory.
    interp_arg_ = nir_umin(b, src_chan(1, 0, TGSI_TYPE_SIGNED), nir_imm_int(b, int(max_samples()) - 1));
  } else if (op == TGSI_OPCODE_INTERP_OFFSET) {
    interp_arg_ = nir_channels(b, src(1, TGSI_TYPE_FLOAT), 0x3);
  }
  interp_op_ = op;
  nir_ssa_def* v = src(0, TGSI_TYPE_FLOAT);
  interp_op_ = 0;
  store_dst(v, true);
  return true;
}

// The most samples a 2D render target of the host driver has.
unsigned Translator::max_samples() const {
  for (unsigned n : {32u, 16u, 8u, 4u, 2u}) {
    for (pipe_format f : {PIPE_FORMAT_R8G8B8A8_UNORM, PIPE_FORMAT_R32G32B32A32_FLOAT, PIPE_FORMAT_B8G8R8A8_UNORM}) {
      if (screen_->is_format_supported(screen_, f, PIPE_TEXTURE_2D, n, n, PIPE_BIND_RENDER_TARGET)) return n;
    }
  }
  return 1;
}

// Drivers with compact arrays (zink) take clip and cull distances as GLSL
// has them, float arrays at CLIP_DIST0 and CULL_DIST0; TGSI packs both into
// the CLIPDIST registers, clip distances first (NUM_CLIPDIST_ENABLED, then
// NUM_CULLDIST_ENABLED of them).
void Translator::declare_compact_distances(unsigned reg, unsigned sem_index) {
  nir_shader* s = b_.shader;
  const unsigned clip = scan_.properties[TGSI_PROPERTY_NUM_CLIPDIST_ENABLED];
  const unsigned cull = scan_.properties[TGSI_PROPERTY_NUM_CULLDIST_ENABLED];
  if (!clip && !cull) return fail("CLIPDIST outputs without NUM_CLIPDIST_ENABLED or NUM_CULLDIST_ENABLED");
  if (clip + cull > 8) return fail("%u clip and %u cull distances are more than 8", clip, cull);
  auto make = [&](unsigned n, int location) {
    nir_variable* v = nir_variable_create(s, nir_var_shader_out, glsl_array_type(glsl_float_type(), n, 0), "distances");
    v->data.location = location;
    v->data.compact = true;
    v->data.driver_location = reg;
    if (stage_ == PIPE_SHADER_GEOMETRY) v->data.stream = 0;
    return v;
  };
  if (clip && !clip_var_) clip_var_ = make(clip, VARYING_SLOT_CLIP_DIST0);
  if (cull && !cull_var_) cull_var_ = make(cull, VARYING_SLOT_CULL_DIST0);
  s->info.clip_distance_array_size = clip;
  s->info.cull_distance_array_size = cull;
  distance_reg_.resize(outputs_.size(), -1);
  distance_reg_[reg] = int(sem_index);
}

void Translator::store_distances(unsigned reg) {
  nir_builder* b = &b_;
  const unsigned clip = scan_.properties[TGSI_PROPERTY_NUM_CLIPDIST_ENABLED];
  const unsigned cull = scan_.properties[TGSI_PROPERTY_NUM_CULLDIST_ENABLED];
  nir_deref_instr* d = nir_build_deref_var(b, outputs_[reg].var);
  if (outputs_[reg].array) d = nir_build_deref_array_imm(b, d, outputs_[reg].offset);
  nir_ssa_def* v = nir_load_deref(b, d);
  for (unsigned c = 0; c < 4; ++c) {
    const unsigned i = unsigned(distance_reg_[reg]) * 4 + c;
    nir_variable* var = i < clip ? clip_var_ : i < clip + cull ? cull_var_ : nullptr;
    if (!var) continue;
    const unsigned element = i < clip ? i : i - clip;
    nir_store_deref(b, nir_build_deref_array_imm(b, nir_build_deref_var(b, var), element), nir_channel(b, v, c), 1);
  }
}

void Translator::store_outputs() {
  nir_builder* b = &b_;
  for (unsigned i = 0; i < outputs_.size(); ++i) {
    if (i < distance_reg_.size() && distance_reg_[i] >= 0) store_distances(i);
    nir_variable* var = output_vars_[i];
    if (!var) continue;
    nir_deref_instr* d = nir_build_deref_var(b, outputs_[i].var);
    if (outputs_[i].array) d = nir_build_deref_array_imm(b, d, outputs_[i].offset);
    nir_ssa_def* v = nir_load_deref(b, d);
    unsigned mask = 0xf;
    // Locations are per stage: FRAG_RESULT_DEPTH and VARYING_SLOT_POS are both 0.
    const int loc = var->data.location;
    const int scalar_chan = stage_ == PIPE_SHADER_FRAGMENT
                                ? (loc == FRAG_RESULT_DEPTH ? 2 : loc == FRAG_RESULT_STENCIL ? 1 : loc == FRAG_RESULT_SAMPLE_MASK ? 0 : -1)
                                : (loc == VARYING_SLOT_PSIZ || loc == VARYING_SLOT_FOGC || loc == VARYING_SLOT_LAYER ||
                                   loc == VARYING_SLOT_VIEWPORT)
                                      ? 0
                                      : -1;
    if (scalar_chan >= 0) {  // TGSI: POSITION.z (depth), STENCIL.y, the rest .x
      v = nir_channel(b, v, scalar_chan);
      mask = 1;
    }
    nir_store_deref(b, nir_build_deref_var(b, var), v, mask);
  }
}

void Translator::instruction(const tgsi_full_instruction& in) {
  inst_ = &in;
  const unsigned op = in.Instruction.Opcode;
  if (in.Instruction.NumDstRegs > 1) return fail("%s: instructions with two destinations are not translated", op_name(op));
  if (control_flow(op) || misc(op) || interpolate(op) || alu64(op) || alu(op) || texture(op) || memory(op)) return;
  fail("TGSI opcode %s is not translated to NIR yet", op_name(op));
}

}  // namespace xen3d::host::shader

namespace xen3d::host {

NirTranslation translate_tgsi_to_nir(const tgsi_token* tokens, unsigned stage, pipe_screen* screen,
                                     unsigned shared_bytes) {
  shader::Translator t(screen, stage, shared_bytes);
  NirTranslation out;
  out.nir = t.translate(tokens);
  if (!out.nir) out.error = t.error().empty() ? "the translation failed" : t.error();
  // Debugging aid (files: only where no sandbox runs, --render-workers off).
  if (const char* f = getenv("XEN3D_DEBUG_NIR")) {
    if (FILE* o = fopen(f, "a")) {
      tgsi_dump_to_file(tokens, 0, o);
      if (out.nir) nir_print_shader(out.nir, o);
      else fprintf(o, "not translated: %s\n", out.error.c_str());
      fclose(o);
    }
  }
  return out;
}

}  // namespace xen3d::host
