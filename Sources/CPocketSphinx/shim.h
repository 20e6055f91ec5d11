#ifndef HOTLINE_CPOCKETSPHINX_SHIM_H
#define HOTLINE_CPOCKETSPHINX_SHIM_H

#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <sphinxbase/cmd_ln.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/ngram_model.h>

/// A configuration holding PocketSphinx's argument definitions and nothing else set.
/// `cmd_ln_init` is variadic, which Swift cannot call, so it is wrapped here.
static inline cmd_ln_t *hotline_ps_config_new(void) {
    return cmd_ln_init(NULL, ps_args(), TRUE, NULL);
}

#endif
