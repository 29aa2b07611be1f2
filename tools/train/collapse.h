/* Collapse detection while DINOv2 trains (`dinoc train`).
 *
 * DINO collapses two ways (the DINO paper §5.3, dinov2#272): to uniform
 * outputs, where the teacher's softmax after centering is flat and the DINO
 * or iBOT cross-entropy sits at ln K; or to constant outputs, where the
 * teacher gives every image the same answer. Three signs are watched, each
 * step:
 *   dino uniform      |dino_loss − ln K| ≤ 1% of ln K
 *   ibot uniform      |ibot_loss − ln K| ≤ 1% of ln K
 *   constant teacher  the mean pairwise cosine similarity of the teacher's cls
 *                     tokens over the batch (the step graph's
 *                     teacher_cls_similarity, dinov2.h) ≥ 0.99
 * A sign counts once it has held on every one of `window` consecutive steps,
 * all of them after the lr warm-up (a fresh ViT with a small LayerScale
 * starts with near-identical tokens; the warm-up is where that must change).
 * The window: a twentieth of the run, at least 10 and at most 1000 steps. */
#ifndef DC_COLLAPSE_H
#define DC_COLLAPSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { DC_COLLAPSE_DINO = 1, DC_COLLAPSE_IBOT = 2, DC_COLLAPSE_CONSTANT = 4 };

#define DC_COLLAPSE_LOSS_TOLERANCE 0.01 /* of ln K */
#define DC_COLLAPSE_SIMILARITY 0.99

typedef struct dc_collapse_watch {
    double ln_k;
    int64_t window, first_step; /* signs count from first_step (the end of the warm-up) */
    int64_t held[3];            /* consecutive steps each sign has held */
    int64_t since[3];           /* the first of those steps */
    int64_t reached_since[3];   /* `since` when the sign first held a whole window */
    int signs;                  /* DC_COLLAPSE_* of the signs that have held a window (sticky) */
    int64_t step;               /* the first step at which `signs` became non-zero, else -1 */
    double similarity;          /* the last teacher similarity seen (NaN: none) */
} dc_collapse_watch;

/* total_steps: the run's length; warmup_steps: steps of lr warm-up. */
void dc_collapse_init(dc_collapse_watch *w, double ln_k, int64_t total_steps, int64_t warmup_steps);

/* One step's terms; similarity NaN when the step does not compute it. Returns
 * the signs that reached their window at this step (0 mostly). */
int dc_collapse_update(dc_collapse_watch *w, int64_t step, double dino, double ibot,
                       double similarity);

/* A short tag for the progress line, e.g. "collapse: DINO uniform" ("" when none). */
void dc_collapse_tag(const dc_collapse_watch *w, char *out, size_t cap);

/* What was seen and the likely causes, as lines ending in '\n', each starting
 * with `indent` ("" when none). */
void dc_collapse_explain(const dc_collapse_watch *w, const char *indent, char *out, size_t cap);

#endif
