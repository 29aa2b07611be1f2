/* Reference kernels of the collective ops (compiler/ops/collective.c). */
#ifndef DC_REFERENCE_COLLECTIVE_H
#define DC_REFERENCE_COLLECTIVE_H

#include "op_registry.h"

dc_status dc_ref_AllReduce(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                           dc_tensor **outputs);

dc_status dc_ref_AllReduceStart(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                dc_tensor **outputs);
dc_status dc_ref_AllReduceWait(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                               dc_tensor **outputs);

dc_status dc_ref_AllGather(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                           dc_tensor **outputs);

#endif
