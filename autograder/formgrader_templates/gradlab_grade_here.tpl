<div class="alert alert-info gradlab-grade-here" role="note">
  <p><b>Grading runs in the sandbox, from the command line.</b> This course grades every submission
  in its own sandbox and judges it outside the student's process, so formgrader's own Autograde and
  Generate Feedback buttons are not offered. In a
  <a target="_blank" href="{{ base_url }}/terminals/1">terminal</a>:</p>
  <pre>
{% if course_dir %}cd "{{ course_dir }}"
{% endif %}python -m autograder grade submitted --out graded     # autograde, sandboxed
python -m autograder feedback graded                  # the students' feedback pages</pre>
  <p>Then <i>Release Feedback</i> here hands the pages out. Manual grading stays on these pages.</p>
</div>
