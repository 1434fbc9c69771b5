# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# example_explain_gradcam on what else --input can be: a video, a folder, an image sequence, a camera index
# (included by CMakeLists.txt; GRADCAM, FILES and IN are set there). Every test runs without a display and
# checks the files written with explain_sample_files (sample_files.cpp), which reads them back.
set(dir ${CMAKE_CURRENT_BINARY_DIR}/gradcam_apps)
set(CLEAN ${CMAKE_COMMAND} -E rm -rf)

# a video file: an annotated MJPG video of every frame in an --out folder that does not exist yet
explain_sample_test(sample.gradcam.video EXIT 0 ALL_OUTPUT
                    OUTPUT "frame_000000: class 1 \\(square\\).*wrote [^\n]*/new/folder/clip_gradcam\\.avi \\(12 frames, MJPG\\).*12 frames of 540x360 as expected"
                    COMMAND ${CLEAN} ${dir}/video
                    && ${GRADCAM} --input=${IN}/clip.avi --out=${dir}/video/new/folder
                    && ${FILES} video ${dir}/video/new/folder/clip_gradcam.avi 12 360)
# the panel as video frames, --frames stops early, --headless given
explain_sample_test(sample.gradcam.video_panel EXIT 0 ALL_OUTPUT
                    OUTPUT "wrote [^\n]*/clip_panel\\.avi \\(3 frames, MJPG\\).*3 frames of [0-9]+x250 as expected"
                    COMMAND ${CLEAN} ${dir}/video_panel
                    && ${GRADCAM} --input=${IN}/clip.avi --panel --frames=3 --headless --out=${dir}/video_panel
                    && ${FILES} video ${dir}/video_panel/clip_panel.avi 3 250)
# a folder: every image's maps at that image's size (b_wide.png is 96x64: the guided maps are not squashed
# to the net's 64x64), the panel of 5 tiles; the subfolder is not searched
explain_sample_test(sample.gradcam.folder EXIT 0 ALL_OUTPUT
                    OUTPUT "a: class 1 \\(square\\).*b_wide: class 1 \\(square\\).*wrote [^\n]*/b_wide_panel\\.png.*96x64 as expected.*96x64 as expected.*96x64 as expected.*5 tiles as expected"
                    REJECT "c_flipped"
                    COMMAND ${CLEAN} ${dir}/folder
                    && ${GRADCAM} --input=${IN}/images --panel --out=${dir}/folder
                    && ${FILES} image ${dir}/folder/b_wide_guided.png 96 64
                    && ${FILES} image ${dir}/folder/b_wide_guided_gradcam.png 96 64
                    && ${FILES} image ${dir}/folder/b_wide_gradcam.png 96 64
                    && ${FILES} panel ${dir}/folder/a_panel.png 5 224)
# one image: every method at the image's size, and the panel
explain_sample_test(sample.gradcam.image_size_and_panel EXIT 0 ALL_OUTPUT
                    OUTPUT "wrote [^\n]*/panel\\.png.*guided\\.png: 96x64 as expected.*guided_gradcam\\.png: 96x64 as expected.*gradcam\\.png: 96x64 as expected.*counterfactual\\.png: 96x64 as expected.*5 tiles as expected"
                    COMMAND ${CLEAN} ${dir}/image
                    && ${GRADCAM} --input=${IN}/images/b_wide.png --panel --out=${dir}/image
                    && ${FILES} image ${dir}/image/guided.png 96 64 && ${FILES} image ${dir}/image/guided_gradcam.png 96 64
                    && ${FILES} image ${dir}/image/gradcam.png 96 64 && ${FILES} image ${dir}/image/counterfactual.png 96 64
                    && ${FILES} panel ${dir}/image/panel.png 5 224)
# a folder with unreadable files: an error line each, the others written, exit code 1 at the end
explain_sample_test(sample.gradcam.folder_unreadable EXIT 1
                    OUTPUT "wrote [^\n]*/b_wide_gradcam\\.png\nerror: '[^']*/broken\\.png' is not a readable image \\(skipped\\)\nerror: '[^']*/empty\\.jpg' is not a readable image \\(skipped\\)\nerror: 2 of 4 images could not be read"
                    COMMAND ${GRADCAM} --input=${IN}/bad --methods=gradcam --out=${dir}/unreadable)
# an image sequence (cv::VideoCapture's printf pattern): images per frame
explain_sample_test(sample.gradcam.sequence EXIT 0 ALL_OUTPUT
                    OUTPUT "wrote [^\n]*/frame_000002_gradcam\\.png.*96x64 as expected"
                    COMMAND ${CLEAN} ${dir}/sequence
                    && ${GRADCAM} --input=${IN}/seq/frame_%02d.png --methods=gradcam --out=${dir}/sequence
                    && ${FILES} image ${dir}/sequence/frame_000002_gradcam.png 96 64)
# what cannot be opened, and what works on one image only
explain_sample_test(sample.gradcam.video_with_raw EXIT 1 OUTPUT "error: --target=mask, --target=box, --target=word, --input2 and --raw work on a single image"
                    COMMAND ${GRADCAM} --input=${IN}/clip.avi --raw=${dir}/raw.yml --out=${dir}/raw)
explain_sample_test(sample.gradcam.no_camera EXIT 1 OUTPUT "error: cannot open camera 9"
                    COMMAND ${GRADCAM} --input=9 --out=${dir}/camera)
# --tokens: malformed, and a grid that does not fit the (N x K x H x W) target of the bundled model
explain_sample_test(sample.gradcam.tokens_malformed EXIT 1
                    OUTPUT "error: --tokens=4 is not <H>x<W> or <H>x<W>\\+<leading tokens> with H, W in \\[1, 4096\\]"
                    COMMAND ${GRADCAM} --tokens=4 --out=${dir}/tokens)
explain_sample_test(sample.gradcam.tokens_not_a_token_layer EXIT 1
                    OUTPUT "the token grid 8 x 8 with 0 prefix token\\(s\\) reads N x 64 x C tokens or N x 8 x 8 x C"
                    COMMAND ${GRADCAM} --tokens=8x8 --headless --out=${dir}/tokens)
# the bundled token model (tools/token_models.py) on its 4 x 4 grid after the class token, guided maps included
explain_sample_test(sample.gradcam.tokens_vit EXIT 0
                    OUTPUT "class: +[0-9]+, score.*wrote [^\n]*/tokens_vit/gradcam\\.png.*wrote [^\n]*/tokens_vit/guided_gradcam\\.png"
                    COMMAND ${GRADCAM} --model=${PROJECT_SOURCE_DIR}/data/tokens/tiny_vit.onnx --width=16 --height=16
                            --scale=0.00392156862745098 --rgb --layer=onnx_node!/blocks/blocks.0/Add_1 --tokens=4x4+1
                            --headless --out=${dir}/tokens_vit)
explain_sample_test(sample.gradcam.missing_input EXIT 1 OUTPUT "error: cannot open '/nonexistent/cat\\.png'"
                    COMMAND ${GRADCAM} --input=/nonexistent/cat.png --out=${dir}/missing)
explain_sample_test(sample.gradcam.not_a_video EXIT 1
                    OUTPUT "error: cannot open '[^']*/notes\\.txt' as an image, a video or an image sequence"
                    COMMAND ${GRADCAM} --input=${IN}/images/notes.txt --out=${dir}/missing)
explain_sample_test(sample.gradcam.video_with_mask EXIT 1 OUTPUT "error: --target=mask, --target=box, --target=word, --input2 and --raw work on a single image"
                    COMMAND ${GRADCAM} --input=${IN}/clip.avi --target=mask --mask=${IN}/images/a.png --out=${dir}/mask)
explain_sample_test(sample.gradcam.empty_folder EXIT 1 OUTPUT "error: the folder '[^']*/empty' has no image files"
                    COMMAND ${GRADCAM} --input=${IN}/empty --out=${dir}/empty)
foreach(t video video_panel folder image_size_and_panel folder_unreadable sequence no_camera missing_input not_a_video
        video_with_mask video_with_raw empty_folder)
  set_tests_properties(sample.gradcam.${t} PROPERTIES FIXTURES_REQUIRED sample_inputs)
endforeach()

# with a display: a window under Xvfb, driven by keys (skipped without Xvfb and xdotool)
add_test(NAME sample.gradcam.window COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/window_test.sh ${GRADCAM} ${dir}/window)
set_tests_properties(sample.gradcam.window PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

# a DISPLAY without an X server behind it: no window (Qt would abort the process), files as with --headless
add_test(NAME sample.gradcam.dead_display COMMAND ${CMAKE_COMMAND} -E env DISPLAY=:987 --unset=WAYLAND_DISPLAY ${EXPLAIN_VIDEOIO_ENV}
         ${CMAKE_COMMAND} -DEXPECT_EXIT=0
         "-DEXPECT_OUTPUT=note:    DISPLAY=:987, but no X server listens there [^\n]*; writing files as with --headless.*wrote [^\n]*/dead_display/gradcam\\.png"
         -P ${CMAKE_CURRENT_SOURCE_DIR}/run_sample.cmake -- ${GRADCAM} --out=${dir}/dead_display)

# Ctrl-C while a video is written: a whole video of the frames so far
add_test(NAME sample.gradcam.interrupt COMMAND ${CMAKE_COMMAND} -E env --unset=DISPLAY ${EXPLAIN_VIDEOIO_ENV}
         sh ${CMAKE_CURRENT_SOURCE_DIR}/interrupt_test.sh ${GRADCAM} ${FILES} ${IN}/long.avi ${dir}/interrupt)
set_tests_properties(sample.gradcam.interrupt PROPERTIES FIXTURES_REQUIRED sample_inputs TIMEOUT 120)
