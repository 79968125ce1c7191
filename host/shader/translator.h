// The translator's state, shared by its parts: registers and control flow
// (translator.cpp), arithmetic (translate_alu.cpp), textures
// (translate_texture.cpp). Internal to host/shader.
//
// Model: every TGSI register file that can be written (TEMP, ADDR, OUTPUT)
// becomes function-local vec4 variables, read and written through derefs
// with the instruction's write mask; nir_lower_vars_to_ssa turns them into
// SSA afterwards. Outputs are copied to the shader's output variables at the
// end (and at each EMIT in a geometry shader), because TGSI reads and
// partially writes them like temporaries.
#pragma once

#include <array>
#include <cstdarg>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/nir/nir.h"
#include "compiler/nir/nir_builder.h"
#include "tgsi/tgsi_info.h"
#include "tgsi/tgsi_parse.h"
#include "tgsi/tgsi_scan.h"

struct pipe_screen;

namespace xen3d::host::shader {

inline const char* op_name(unsigned op) { return tgsi_get_opcode_name(static_cast<tgsi_opcode>(op)); }

class Translator {
 public:
  // `shared_bytes`: a compute shader's req_local_mem.
  Translator(pipe_screen* screen, unsigned stage, unsigned shared_bytes = 0);
  ~Translator();
  // nullptr with error() set when the shader is refused.
  nir_shader* translate(const tgsi_token* tokens);
  const std::string& error() const { return error_; }

  // --- used by the opcode parts ---
  nir_builder* b() { return &b_; }
  bool failed() const { return !error_.empty(); }
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

  // Source i of the current instruction as a vec4 with swizzle and
  // modifiers applied; `type` says how abs/neg read it.
  nir_ssa_def* src(unsigned i, tgsi_opcode_type type);
  nir_ssa_def* src(const tgsi_full_src_register& r, tgsi_opcode_type type);
  // A scalar: channel `chan` of source i.
  nir_ssa_def* src_chan(unsigned i, unsigned chan, tgsi_opcode_type type);
  // Writes `value` (1 to 4 components; fewer are replicated from .x) to
  // destination 0 under its write mask, saturating float results if asked.
  void store_dst(nir_ssa_def* value, bool is_float);
  unsigned write_mask() const { return inst_->Dst[0].Register.WriteMask; }
  const tgsi_full_instruction& inst() const { return *inst_; }
  unsigned stage() const { return stage_; }
  pipe_screen* screen() const { return screen_; }

  // Sampler-view return types declared by the shader (float unless declared).
  nir_alu_type view_type(unsigned index) const;
  // Texture units first..last are sampled as this kind of texture: the
  // shader's sampler variables get its type (zink types its SPIR-V images by
  // them). False, with the shader refused, when a unit is two kinds.
  bool use_samplers(unsigned first, unsigned last, glsl_sampler_dim dim, bool array, bool shadow);

  // translate_alu.cpp: true when `op` was an arithmetic opcode (translated or failed).
  bool alu(unsigned op);
  // translate_alu64.cpp: the same for 64-bit (double, int64) opcodes.
  bool alu64(unsigned op);
  // translate_texture.cpp: the same for texture opcodes.
  bool texture(unsigned op);
  // translate_memory.cpp: loads, stores, atomics and size queries on
  // shader buffers and images.
  bool memory(unsigned op);
  // translate_memory.cpp: LOAD/STORE/atomics on compute shared memory
  // (`atomic`: the opcode's kAtomics entry; `store_mask`: a STORE's mask).
  bool shared_memory(unsigned op, const void* atomic, unsigned store_mask);

 private:
  struct Reg {
    nir_variable* var = nullptr;  // a vec4, or an array of vec4 for TGSI arrays
    unsigned offset = 0;          // element of an array variable
    bool array = false;
  };
  // TGSI's second dimension of a register (a vertex of an arrayed input or
  // output), with its indirect register.
  struct Dim {
    bool present = false;
    int index = 0;
    bool indirect = false;
    tgsi_ind_register ind{};
  };

  void declaration(const tgsi_full_declaration& d);
  void declare_input(const tgsi_full_declaration& d, unsigned index, unsigned count, bool array);
  void declare_output(const tgsi_full_declaration& d, unsigned index, unsigned count, bool array);
  void immediate(const tgsi_full_immediate& im);
  void property(const tgsi_full_property& p);
  void instruction(const tgsi_full_instruction& in);
  bool control_flow(unsigned op);
  bool misc(unsigned op);
  bool interpolate(unsigned op);
  unsigned max_samples() const;
  void store_outputs();
  void declare_compact_distances(unsigned reg, unsigned sem_index);
  // TCS output register `index` holds the tessellation levels as a compact float array.
  bool compact_levels(unsigned index) const;
  void store_distances(unsigned reg);
  // Writes a vec4 to one destination under its write mask.
  void write(const tgsi_full_dst_register& d, nir_ssa_def* value);
  // TGSI indexes registers declared one by one as one file: an indirect
  // access to such a register (no array) returns the file, whose registers
  // the access then chooses among (nullptr otherwise).
  std::vector<Reg>* lone_indirect(unsigned file, int index, bool indirect);
  bool same_kind(const Reg& a, const Reg& b) const;

  nir_ssa_def* fetch(const tgsi_full_src_register& r);
  nir_ssa_def* indirect_index(const tgsi_ind_register& ind);
  nir_ssa_def* system_value(unsigned index);
  nir_ssa_def* input(unsigned index, const tgsi_full_src_register& r);
  nir_deref_instr* reg_deref(std::vector<Reg>& file, unsigned index, const tgsi_ind_register* ind, bool has_ind,
                             const char* what);
  // The element `r` names in the array `d` (of r's variable), clamped when indirect.
  nir_deref_instr* element_deref(nir_deref_instr* d, const Reg& r, const tgsi_ind_register* ind, bool has_ind,
                                 const char* what, unsigned index);
  // `d` indexed by a vertex, clamped into its array.
  nir_deref_instr* vertex_deref(nir_deref_instr* d, const Dim& dim);
  // A tessellation-control output: the shader's own variable (outputs of
  // other invocations are read after barriers, so they are not registers).
  nir_deref_instr* tcs_output_deref(unsigned index, const tgsi_ind_register* ind, bool has_ind, const Dim& dim);
  template <typename R>  // tgsi_full_src_register or tgsi_full_dst_register
  static Dim dim_of(const R& r) {
    return {bool(r.Register.Dimension), r.Dimension.Index, bool(r.Dimension.Indirect), r.DimIndirect};
  }
  // Whether inputs of this stage with this semantic are indexed by a vertex first.
  bool arrayed_input(unsigned semantic) const;
  // Whether any of these inputs is declared already (fails on overlapping arrays).
  bool input_semantic_declared(unsigned index, unsigned count);
  // Inputs that NIR reads as system values (PRIMID outside fragment shaders,
  // the tessellation levels in evaluation shaders).
  bool sysval_input(unsigned semantic) const;
  bool levels_as_inputs() const;
  nir_ssa_def* cond_true(nir_ssa_def* v, bool integer);
  // A jump cannot be followed by code in its block: wrap it in if (true).
  void jump(nir_jump_type type);

  pipe_screen* screen_;
  unsigned stage_;
  nir_builder b_{};
  tgsi_shader_info scan_{};
  std::string error_;
  const tgsi_full_instruction* inst_ = nullptr;

  std::vector<Reg> temps_, outputs_;
  std::vector<nir_variable*> output_vars_;  // the shader's outputs, by TGSI index
  std::vector<unsigned> output_semantic_;   // TGSI_SEMANTIC_* by output index
  // Compact clip/cull distance outputs: CLIPDIST's semantic index by output (-1: none).
  std::vector<int> distance_reg_;
  nir_variable* clip_var_ = nullptr;
  nir_variable* cull_var_ = nullptr;
  std::vector<nir_variable*> inputs_;       // by TGSI index (arrays: every index points at the array)
  std::vector<unsigned> input_base_;        // first index of the input's array
  std::vector<unsigned> input_semantic_;
  std::vector<bool> input_declared_, input_array_;
  std::array<nir_variable*, 4> addr_{};
  std::vector<nir_ssa_def*> imms_;
  std::vector<nir_alu_type> view_types_;
  std::vector<unsigned> sysval_semantic_;
  unsigned ubos_ = 0;  // constant buffers declared (highest index + 1)
  std::array<unsigned, PIPE_MAX_CONSTANT_BUFFERS> ubo_rows_{};  // vec4 rows declared per constant buffer
  struct SamplerUse {
    bool used = false;
    glsl_sampler_dim dim = GLSL_SAMPLER_DIM_2D;
    bool array = false, shadow = false;
  };
  std::array<SamplerUse, 32> sampler_uses_{};
  // The variables a GLSL linker leaves for constant buffers and samplers.
  void declare_uniform_variables(uint32_t units);
  unsigned ssbos_ = 0;  // shader buffers declared (highest index + 1)
  struct Image {
    bool declared = false;
    unsigned target = 0;  // TGSI_TEXTURE_*
    unsigned format = 0;  // pipe_format
  };
  std::vector<Image> images_;
  bool images_by_deref_ = false;
  std::vector<nir_variable*> image_vars_;  // by binding, with images_by_deref_
  nir_ssa_def* resource_index(const tgsi_full_src_register& r, unsigned count, const char* what);
  unsigned gs_vertices_in_ = 0;
  unsigned tcs_vertices_out_ = 0;
  unsigned shared_bytes_ = 0;
  bool shared_declared_ = false;
  // Set while an INTERP_* instruction reads its input (see interpolate()).
  unsigned interp_op_ = 0;
  nir_ssa_def* interp_arg_ = nullptr;

  // Control flow: open IFs and loops, innermost last.
  struct Open {
    nir_if* nif = nullptr;
    nir_loop* loop = nullptr;
  };
  std::vector<Open> open_;
  unsigned loop_depth_ = 0;
};

}  // namespace xen3d::host::shader
