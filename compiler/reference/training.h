/* Reference kernels of the ai.dinoc training ops (compiler/ops/training.c). */
#ifndef DC_REFERENCE_TRAINING_H
#define DC_REFERENCE_TRAINING_H

#include "op_registry.h"

dc_status dc_ref_AdamW(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs);
dc_status dc_ref_EMA(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                     dc_tensor **outputs);

#endif
