/* Every CUnit suite, one line each. A test file defines `void register_<name>(void)`
 * that adds its suite; add its name here. */
#ifndef DC_SUITES_H
#define DC_SUITES_H

#define DC_SUITES      \
    DC_SUITE(runtime_tensor) \
    DC_SUITE(runtime_npy) \
    DC_SUITE(runtime_safetensors) \
    DC_SUITE(runtime_plan) \
    DC_SUITE(runtime_artifact) \
    DC_SUITE(runtime_c_kernels) \
    DC_SUITE(runtime_data) \
    DC_SUITE(runtime_collectives) \
    DC_SUITE(compiler_ir) \
    DC_SUITE(compiler_builder) \
    DC_SUITE(compiler_shape_inference) \
    DC_SUITE(compiler_onnx_io) \
    DC_SUITE(compiler_fuzz_regressions) \
    DC_SUITE(compiler_node_models) \
    DC_SUITE(runtime_dnnl_kernels) \
    DC_SUITE(compile_run) \
    DC_SUITE(reference_kernels) \
    DC_SUITE(pass_fold_constants) \
    DC_SUITE(pass_dce) \
    DC_SUITE(pass_autodiff) \
    DC_SUITE(fused_ops) \
    DC_SUITE(runtime_grad_kernels) \
    DC_SUITE(pass_training) \
    DC_SUITE(pass_fusion) \
    DC_SUITE(pass_schedule_collectives) \
    DC_SUITE(pass_plan_memory) \
    DC_SUITE(graphs_heads_losses) \
    DC_SUITE(graphs_vit) \
    DC_SUITE(graphs_dinov2) \
    DC_SUITE(graphs_knn) \
    DC_SUITE(graphs_pca) \
    DC_SUITE(graphs_config_yaml) \
    DC_SUITE(graphs_export) \
    DC_SUITE(graphs_trainer) \
    DC_SUITE(tools_cli) \
    DC_SUITE(tools_mpi) \
    DC_SUITE(tools_artifact) \
    DC_SUITE(tools_recipe) \
    DC_SUITE(conformance) \
    DC_SUITE(codegen_eltwise) \
    DC_SUITE(codegen_training) \
    DC_SUITE(codegen_reduce) \
    DC_SUITE(codegen_copy) \
    DC_SUITE(codegen_index)

#endif
