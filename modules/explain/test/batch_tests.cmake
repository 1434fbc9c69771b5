# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# example_explain_batch: a folder and manifests, resume after a crash, shards, unreadable files, strict
# parsing (included by CMakeLists.txt; FILES and IN are set there). The indexes are compared by
# explain_sample_files (sample_files.cpp): the same lines as a set, each without its time_ms member.
set(BATCH $<TARGET_FILE:example_explain_batch>)
set(dir ${CMAKE_CURRENT_BINARY_DIR}/batch)
set(CLEAN ${CMAKE_COMMAND} -E rm -rf)
set(RUN --methods=gradcam,guided --batch=2)

# the reference: one uninterrupted run over the folder (3 images, the subfolder too; notes.txt is not an image)
explain_sample_test(sample.batch.folder EXIT 0 ALL_OUTPUT
                    OUTPUT "images:  3 in [^\n]*, 0 already in the index, 3 to explain.*done:    3 explained, 0 failed.*3 lines as expected.*96x64 as expected.*96x64 as expected"
                    COMMAND ${CLEAN} ${dir}/reference
                    && ${BATCH} --input=${IN}/images ${RUN} --out=${dir}/reference
                    && ${FILES} lines ${dir}/reference/index.jsonl 3
                    && ${FILES} image ${dir}/reference/maps/b_wide_guided.png 96 64
                    && ${FILES} image ${dir}/reference/maps/b_wide_gradcam.png 96 64)
set_tests_properties(sample.batch.folder PROPERTIES FIXTURES_REQUIRED sample_inputs FIXTURES_SETUP batch_reference)

# resume: a run that stops as a crash would after 1 image (the 2nd image's maps written, half its index
# line), plus a stale temporary file; the rerun drops the half line, removes the temporary, explains the
# 2 others, and the index equals the uninterrupted run's
set(r ${dir}/resume)
explain_sample_test(sample.batch.crash EXIT 75 OUTPUT "stopped after 1 images \\(--stop-after\\)"
                    COMMAND ${CLEAN} ${r} && ${BATCH} --input=${IN}/images ${RUN} --out=${r} --stop-after=1)
explain_sample_test(sample.batch.resume EXIT 0 ALL_OUTPUT
                    OUTPUT "dropped 1 incomplete line\\(s\\).*1 already in the index, 2 to explain.*done:    2 explained.*is absent as expected.*the indexes have the same 3 lines"
                    COMMAND ${CMAKE_COMMAND} -E touch ${r}/maps/.tmp-1234-a_gradcam.png
                    && ${BATCH} --input=${IN}/images ${RUN} --out=${r}
                    && ${FILES} absent ${r}/maps/.tmp-1234-a_gradcam.png
                    && ${FILES} index ${dir}/reference/index.jsonl ${r}/index.jsonl)
# and a third run has nothing left to do
explain_sample_test(sample.batch.resume_done EXIT 0 OUTPUT "3 already in the index, 0 to explain.*done:    0 explained, 0 failed"
                    COMMAND ${BATCH} --input=${IN}/images ${RUN} --out=${r})
set_tests_properties(sample.batch.crash PROPERTIES FIXTURES_REQUIRED sample_inputs FIXTURES_SETUP batch_crash)
set_tests_properties(sample.batch.resume PROPERTIES FIXTURES_REQUIRED "sample_inputs;batch_reference;batch_crash"
                     FIXTURES_SETUP batch_resume)
set_tests_properties(sample.batch.resume_done PROPERTIES FIXTURES_REQUIRED "sample_inputs;batch_resume")

# shards: two processes with --shard=0/2 and 1/2 in folders of their own; together, the reference index
explain_sample_test(sample.batch.shards EXIT 0 ALL_OUTPUT
                    OUTPUT "in shard 0/2.*in shard 1/2.*the indexes have the same 3 lines"
                    COMMAND ${CLEAN} ${dir}/shards
                    && ${BATCH} --input=${IN}/images ${RUN} --shard=0/2 --out=${dir}/shards/0
                    && ${BATCH} --input=${IN}/images ${RUN} --shard=1/2 --out=${dir}/shards/1
                    && ${FILES} index ${dir}/reference/index.jsonl ${dir}/shards/0/index.jsonl ${dir}/shards/1/index.jsonl)
set_tests_properties(sample.batch.shards PROPERTIES FIXTURES_REQUIRED "sample_inputs;batch_reference")

# unreadable files: an error line each, the run goes on, errors.jsonl lists them; exit 0 (some images were
# explained), 2 with --strict, 2 when every image failed
explain_sample_test(sample.batch.unreadable EXIT 0 ALL_OUTPUT
                    OUTPUT "error: 'broken\\.png': not a readable image \\(skipped; the run goes on\\).*error: 'empty\\.jpg': not a readable image.*done:    3 explained, 2 failed.*errors\\.jsonl: 2 lines as expected"
                    COMMAND ${CLEAN} ${dir}/unreadable
                    && ${BATCH} --input=${IN}/bad ${RUN} --out=${dir}/unreadable
                    && ${FILES} lines ${dir}/unreadable/errors.jsonl 2)
explain_sample_test(sample.batch.unreadable_strict EXIT 2 OUTPUT "done:    3 explained, 2 failed"
                    COMMAND ${CLEAN} ${dir}/strict && ${BATCH} --input=${IN}/bad ${RUN} --strict --out=${dir}/strict)
explain_sample_test(sample.batch.all_failed EXIT 2 OUTPUT "error: 'broken\\.png': not a readable image.*done:    0 explained, 1 failed"
                    COMMAND ${CLEAN} ${dir}/all_failed
                    && ${BATCH} --input=${dir}/all_failed.csv ${RUN} --images=${IN}/bad --out=${dir}/all_failed)
file(WRITE ${dir}/all_failed.csv "path\nbroken.png\n")

# manifests: the given classes and boxes; the pointing game on the squares (where the generator drew them)
explain_sample_test(sample.batch.manifest_jsonl EXIT 0 ALL_OUTPUT
                    OUTPUT "4 to explain.*done:    4 explained.*the indexes have the same 4 lines"
                    COMMAND ${CLEAN} ${dir}/jsonl
                    && ${BATCH} --input=${IN}/images/manifest.jsonl --methods=gradcam,gradcampp,counterfactual,guided_gradcam
                       --save=png,float --out=${dir}/jsonl
                    && ${BATCH} --input=${IN}/images/manifest.jsonl --methods=gradcam,gradcampp,counterfactual,guided_gradcam
                       --save=png,float --batch=1 --out=${dir}/jsonl_batch1
                    && ${FILES} index ${dir}/jsonl/index.jsonl ${dir}/jsonl_batch1/index.jsonl)
set(pg "\"pointing_game\":true")
explain_sample_test(sample.batch.manifest_csv EXIT 0 ALL_OUTPUT
                    OUTPUT "\"id\":\"a\\.png\",[^\n]*\"target\":\"top1\"[^\n]*\"boxes\":\\[\\[38,40,22,22\\]\\][^\n]*${pg}[^\n]*\n\\{\"id\":\"b_wide\\.png#1\",[^\n]*\"class\":1,\"label\":\"square\"[^\n]*\"target\":\"given\"[^\n]*${pg}[^\n]*\n\\{\"id\":\"sub/c_flipped\\.png\"[^\n]*${pg}"
                    COMMAND ${CLEAN} ${dir}/csv
                    && ${BATCH} --input=${IN}/images/manifest.csv --save=none --out=${dir}/csv
                    && ${CMAKE_COMMAND} -E cat ${dir}/csv/index.jsonl)
set_tests_properties(sample.batch.unreadable sample.batch.unreadable_strict sample.batch.all_failed
                     sample.batch.manifest_jsonl sample.batch.manifest_csv PROPERTIES FIXTURES_REQUIRED sample_inputs)

# a net whose scores do not follow the batch: the first batch is refused and explained image by image, then
# one image per pass; the index is that of a run with --batch=1
set(FIXED --model=${IN}/fixed_batch.onnx --width=8 --height=8 --scale=0.004 --methods=gradcam,guided)
explain_sample_test(sample.batch.fixed_batch_model EXIT 0 ALL_OUTPUT
                    OUTPUT "note: the net refused a batch of 3 images \\([^\n]*one row per image[^\n]*\\); they were explained one at a time.*done:    3 explained, 0 failed.*the indexes have the same 3 lines"
                    COMMAND ${CLEAN} ${dir}/fixed ${dir}/fixed1
                    && ${BATCH} --input=${IN}/images ${FIXED} --batch=3 --out=${dir}/fixed
                    && ${BATCH} --input=${IN}/images ${FIXED} --batch=1 --out=${dir}/fixed1
                    && ${FILES} index ${dir}/fixed1/index.jsonl ${dir}/fixed/index.jsonl)
set_tests_properties(sample.batch.fixed_batch_model PROPERTIES FIXTURES_REQUIRED sample_inputs)

# --out inside --input: its maps are not taken for images on the rerun
explain_sample_test(sample.batch.out_inside_input EXIT 0 OUTPUT "images:  1 in [^\n]*, 1 already in the index, 0 to explain"
                    COMMAND ${CLEAN} ${IN}/inside/out && ${BATCH} --input=${IN}/inside --out=${IN}/inside/out
                    && ${BATCH} --input=${IN}/inside --out=${IN}/inside/out)
set_tests_properties(sample.batch.out_inside_input PROPERTIES FIXTURES_REQUIRED sample_inputs)

# manifests are read strictly: the file, the line and what is wrong
set(manifest_cases
    "csv_header|bad.csv|file,class\na.png,1\n|bad\\.csv:1: expected the header path\\[,class\\]\\[,x,y,w,h\\], got 'file,class'"
    "csv_class|bad.csv|path,class\na.png,1x\n|bad\\.csv:2: column 2 \\(class\\): '1x' is not an integer"
    "csv_columns|bad.csv|path,class,x,y,w,h\na.png,1,2,3\n|bad\\.csv:2: expected 6 columns, got 4"
    "csv_box|bad.csv|path,x,y,w,h\na.png,1,2,0,4\n|bad\\.csv:2: column 4 \\(w\\): '0' is out of range"
    "csv_twice|bad.csv|path\na.png\n\nb.png\na.png\n|bad\\.csv:5: 'a\\.png' is listed again \\(first on line 2"
    "json_syntax|bad.jsonl|{\"path\": \"a.png\",}\n|bad\\.jsonl:1: at character 18: expected a member name"
    "json_path|bad.jsonl|{\"class\": 1}\n|bad\\.jsonl:1: needs \"path\": a non-empty string"
    "json_class|bad.jsonl|{\"path\": \"a.png\", \"class\": 1.5}\n|bad\\.jsonl:1: \"class\" is not a whole number"
    "json_box|bad.jsonl|{\"path\": \"a.png\", \"box\": [1, 2, 3]}\n|bad\\.jsonl:1: \"box\" is not an array \\[x, y, w, h\\]"
    "json_array|bad.jsonl|[\"a.png\"]\n|bad\\.jsonl:1: not a JSON object"
    "empty|bad.csv|path\n|bad\\.csv' lists no images")
foreach(case IN LISTS manifest_cases)
  string(REPLACE "|" ";" case "${case}")
  list(GET case 0 name)
  list(GET case 1 file)
  list(GET case 2 text)
  list(GET case 3 regex)
  file(WRITE ${dir}/manifest_${name}/${file} "${text}")
  explain_sample_test(sample.batch.manifest_error_${name} EXIT 1 OUTPUT "error: [^\n]*${regex}" REJECT "done:"
                      COMMAND ${BATCH} --input=${dir}/manifest_${name}/${file} --out=${dir}/manifest_${name}/out)
endforeach()

# strict flags
foreach(bad shard=2/2 shard=1 shard=-1/2 shard=0/0 batch=0 batch=5000 stop-after=-1 save=jpg)
  explain_flag_case("--${bad}" regex name)
  explain_sample_test(sample.batch.bad_flag.${name} EXIT 1 OUTPUT "error: ${regex}[ :]" REJECT "done:"
                      COMMAND ${BATCH} --input=${IN}/images --out=${dir}/flags "--${bad}")
endforeach()
foreach(case "scorecam|error: unknown method 'scorecam' in --methods" "gradcam,guided,gradcam|error: --methods lists 'gradcam' twice")
  string(REPLACE "|" ";" case "${case}")
  list(GET case 0 methods)
  list(GET case 1 regex)
  string(REPLACE "," "_" name "${methods}")
  explain_sample_test(sample.batch.bad_methods.${name} EXIT 1 OUTPUT "${regex}" REJECT "done:"
                      COMMAND ${BATCH} --input=${IN}/images --out=${dir}/flags --methods=${methods})
endforeach()
explain_sample_test(sample.batch.missing_input EXIT 1 OUTPUT "error: --input is required" COMMAND ${BATCH})
explain_sample_test(sample.batch.nonexistent_input EXIT 1 OUTPUT "error: cannot open '/nonexistent\\.csv'"
                    COMMAND ${CLEAN} ${dir}/nonexistent && ${BATCH} --input=/nonexistent.csv --out=${dir}/nonexistent)
# ... and makes no --out folder
explain_sample_test(sample.batch.nonexistent_input_no_out EXIT 0 OUTPUT "is absent as expected"
                    COMMAND ${FILES} absent ${dir}/nonexistent)
set_tests_properties(sample.batch.nonexistent_input PROPERTIES FIXTURES_SETUP batch_nonexistent)
set_tests_properties(sample.batch.nonexistent_input_no_out PROPERTIES FIXTURES_REQUIRED batch_nonexistent)

# Many processes: the Slurm and Kubernetes recipes without a scheduler, and the Dask sample on a LocalCluster
# of 2 worker processes with a task that fails once (in a venv made by tools/setup_dask_venv.sh; skipped when
# EXPLAIN_NO_PYTHON=1 or when PyPI cannot be reached)
set(SCRIPTS ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME distributed.recipes COMMAND sh ${SCRIPTS}/recipes_test.sh ${PROJECT_SOURCE_DIR} ${BATCH} ${FILES}
         ${IN}/images ${dir}/reference/index.jsonl ${dir}/recipes)
add_test(NAME distributed.dask COMMAND sh ${SCRIPTS}/run_distributed_test.sh ${PROJECT_SOURCE_DIR}
         ${CMAKE_BINARY_DIR}/venv-dask ${BATCH} ${IN}/images ${dir}/dask)
set_tests_properties(distributed.recipes PROPERTIES FIXTURES_REQUIRED "sample_inputs;batch_reference" SKIP_RETURN_CODE 77)
set_tests_properties(distributed.dask PROPERTIES FIXTURES_REQUIRED sample_inputs SKIP_RETURN_CODE 77 TIMEOUT 600)

# a rerun that retries only images that fail again still has the shard's earlier results: exit 0
explain_sample_test(sample.batch.rerun_with_failures EXIT 0 ALL_OUTPUT
                    OUTPUT "done:    3 explained, 2 failed.*3 already in the index, 2 to explain.*done:    0 explained, 2 failed"
                    COMMAND ${CLEAN} ${dir}/rerun && ${BATCH} --input=${IN}/bad ${RUN} --out=${dir}/rerun
                    && ${BATCH} --input=${IN}/bad ${RUN} --out=${dir}/rerun)
set_tests_properties(sample.batch.rerun_with_failures PROPERTIES FIXTURES_REQUIRED sample_inputs)
