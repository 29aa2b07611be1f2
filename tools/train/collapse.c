/* Collapse signs over a window of steps (collapse.h). */
#include "collapse.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const sign_names[3] = {"DINO uniform", "iBOT uniform", "constant teacher"};

void dc_collapse_init(dc_collapse_watch *w, double ln_k, int64_t total_steps, int64_t warmup_steps)
{
    memset(w, 0, sizeof *w);
    w->ln_k = ln_k;
    int64_t window = total_steps / 20;
    w->window = window < 10 ? 10 : window > 1000 ? 1000 : window;
    w->first_step = warmup_steps > 0 ? warmup_steps : 0;
    w->step = -1;
    w->similarity = NAN;
}

int dc_collapse_update(dc_collapse_watch *w, int64_t step, double dino, double ibot,
                       double similarity)
{
    bool holds[3] = {
        fabs(dino - w->ln_k) <= DC_COLLAPSE_LOSS_TOLERANCE * w->ln_k,
        fabs(ibot - w->ln_k) <= DC_COLLAPSE_LOSS_TOLERANCE * w->ln_k,
        similarity >= DC_COLLAPSE_SIMILARITY, /* false for NaN */
    };
    if (!isnan(similarity))
        w->similarity = similarity;
    int reached = 0;
    for (int i = 0; i < 3; i++) {
        if (!holds[i] || step < w->first_step) {
            w->held[i] = 0;
            continue;
        }
        if (w->held[i]++ == 0)
            w->since[i] = step;
        if (w->held[i] == w->window && !(w->signs & (1 << i))) {
            reached |= 1 << i;
            w->reached_since[i] = w->since[i];
        }
    }
    if (reached && !w->signs)
        w->step = step;
    w->signs |= reached;
    return reached;
}

void dc_collapse_tag(const dc_collapse_watch *w, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < 3; i++)
        if (w->signs & (1 << i) && n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "collapse: ", sign_names[i]);
}

void dc_collapse_explain(const dc_collapse_watch *w, const char *indent, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
#define ADD(...)                                                            \
    do {                                                                    \
        if (n < cap)                                                        \
            n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__);           \
    } while (0)
    for (int i = 0; i < 2; i++)
        if (w->signs & (1 << i))
            ADD("%scollapse: the %s term stayed within %.0f%% of ln K = %.4f from step %lld on for "
                "%lld steps or more%s: the teacher's targets are uniform after centering\n",
                indent, i == 0 ? "DINO" : "iBOT", 100 * DC_COLLAPSE_LOSS_TOLERANCE, w->ln_k,
                (long long)w->reached_since[i] + 1, (long long)w->window,
                w->held[i] ? " (and still does)" : " (not at the last step)");
    if (w->signs & DC_COLLAPSE_CONSTANT)
        ADD("%scollapse: the teacher's cls tokens were nearly the same for every image from step "
            "%lld on (mean pairwise cosine >= %.2f for %lld steps or more; %.4f at the last step)\n",
            indent, (long long)w->reached_since[2] + 1, DC_COLLAPSE_SIMILARITY, (long long)w->window,
            w->similarity);
    if (w->signs)
        ADD("%slikely causes: vit.layerscale_init too small (the blocks add almost nothing to the "
            "tokens; try 0.1 to 1), teacher_temp or warmup_teacher_temp too high (try 0.04), "
            "center_momentum (centering removes what every image shares), lr too high or "
            "warmup_epochs too short, momentum_teacher too low\n", indent);
#undef ADD
}
