/* Gradients of the elementwise ops. Broadcast inputs get their gradient summed
 * back to their own shape (dg_unbroadcast). x = inputs, y = output 0. */
#include <math.h>

#include "gradients/grad_util.h"

#define X(i) (node->inputs[i])
#define Y (node->outputs[0])

DG_RULE(Add)
{
    if (needs[0]) dx[0] = dg_unbroadcast(g, dy[0], X(0));
    if (needs[1]) dx[1] = dg_unbroadcast(g, dy[0], X(1));
    return DC_OK;
}

DG_RULE(Sub)
{
    if (needs[0]) dx[0] = dg_unbroadcast(g, dy[0], X(0));
    if (needs[1]) dx[1] = dg_unbroadcast(g, dc_unary(g, "Neg", dy[0]), X(1));
    return DC_OK;
}

DG_RULE(Mul)
{
    if (needs[0]) dx[0] = dg_unbroadcast(g, dc_mul(g, dy[0], X(1)), X(0));
    if (needs[1]) dx[1] = dg_unbroadcast(g, dc_mul(g, dy[0], X(0)), X(1));
    return DC_OK;
}

/* y = a / b: da = dy / b, db = -dy · y / b */
DG_RULE(Div)
{
    if (needs[0]) dx[0] = dg_unbroadcast(g, dc_div(g, dy[0], X(1)), X(0));
    if (needs[1])
        dx[1] = dg_unbroadcast(g, dc_unary(g, "Neg", dc_div(g, dc_mul(g, dy[0], Y), X(1))), X(1));
    return DC_OK;
}

/* y = a^b: da = dy · b · a^(b-1), db = dy · y · ln a */
DG_RULE(Pow)
{
    dc_value *a = X(0), *b = X(1);
    if (needs[0]) {
        dc_value *b_minus_1 = dc_sub(g, dc_cast(g, b, a->type.dtype), dg_scalar_like(g, a, 1));
        dc_value *slope = dc_mul(g, dc_cast(g, b, a->type.dtype), dc_binary(g, "Pow", a, b_minus_1));
        dx[0] = dg_unbroadcast(g, dc_mul(g, dy[0], slope), a);
    }
    if (needs[1]) {
        dc_value *db = dc_mul(g, dc_mul(g, dy[0], Y), dc_unary(g, "Log", a));
        dx[1] = dg_unbroadcast(g, dc_cast(g, db, b->type.dtype), b);
    }
    return DC_OK;
}

DG_RULE(Neg)
{
    (void)node;
    (void)needs;
    dx[0] = dc_unary(g, "Neg", dy[0]);
    return DC_OK;
}

DG_RULE(Exp)
{
    (void)needs;
    dx[0] = dc_mul(g, dy[0], Y);
    return DC_OK;
}

DG_RULE(Log)
{
    (void)needs;
    dx[0] = dc_div(g, dy[0], X(0));
    return DC_OK;
}

/* y = √x: dx = dy / (2y) */
DG_RULE(Sqrt)
{
    (void)needs;
    dx[0] = dc_div(g, dy[0], dc_mul(g, Y, dg_scalar_like(g, Y, 2)));
    return DC_OK;
}

/* y = 1/x: dx = -dy · y² */
DG_RULE(Reciprocal)
{
    (void)needs;
    dx[0] = dc_unary(g, "Neg", dc_mul(g, dy[0], dc_mul(g, Y, Y)));
    return DC_OK;
}

/* dx = dy · (1 - y²) */
DG_RULE(Tanh)
{
    (void)needs;
    dx[0] = dc_mul(g, dy[0], dc_sub(g, dg_scalar_like(g, Y, 1), dc_mul(g, Y, Y)));
    return DC_OK;
}

/* dx = dy · y · (1 - y) */
DG_RULE(Sigmoid)
{
    (void)needs;
    dx[0] = dc_mul(g, dy[0], dc_mul(g, Y, dc_sub(g, dg_scalar_like(g, Y, 1), Y)));
    return DC_OK;
}

/* dx = dy where y > 0, else 0 (as PyTorch: zero at x = 0). */
DG_RULE(Relu)
{
    (void)needs;
    dc_value *zero = dg_scalar_like(g, Y, 0);
    dx[0] = dc_where(g, dc_binary(g, "Equal", Y, zero), zero, dy[0]);
    return DC_OK;
}

/* dx = dy · sign(x), zero at x = 0. */
DG_RULE(Abs)
{
    (void)needs;
    dc_value *x = X(0), *zero = dg_scalar_like(g, x, 0);
    dc_value *sign = dc_div(g, x, dc_where(g, dc_binary(g, "Equal", x, zero),
                                           dg_scalar_like(g, x, 1), Y));
    dx[0] = dc_mul(g, dy[0], sign);
    return DC_OK;
}

/* d erf(x) = 2/√π · exp(-x²) */
DG_RULE(Erf)
{
    (void)needs;
    dc_value *x = X(0);
    dc_value *bump = dc_unary(g, "Exp", dc_unary(g, "Neg", dc_mul(g, x, x)));
    dx[0] = dc_mul(g, dy[0], dc_mul(g, bump, dg_scalar_like(g, x, 2.0 / sqrt(M_PI))));
    return DC_OK;
}

/* The condition has no gradient; each branch gets dy where it was chosen. */
DG_RULE(Where)
{
    dc_value *zero = dy[0] ? dg_scalar_like(g, dy[0], 0) : NULL;
    if (needs[1]) dx[1] = dg_unbroadcast(g, dc_where(g, X(0), dy[0], zero), X(1));
    if (needs[2]) dx[2] = dg_unbroadcast(g, dc_where(g, X(0), zero, dy[0]), X(2));
    return DC_OK;
}

DG_RULE(Cast)
{
    (void)needs;
    dx[0] = dc_cast(g, dy[0], X(0)->type.dtype);
    return DC_OK;
}
