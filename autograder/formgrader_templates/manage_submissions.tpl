{#- formgrader's submissions page without its Autograde and Generate Feedback columns (autograder/formgrader_ui.py says why) -#}
{%- extends 'nbgrader/manage_submissions.tpl' -%}

{%- block head -%}
{{ super() }}
{%- include 'gradlab_hidden_buttons.tpl' -%}
{%- endblock head -%}

{%- block messages -%}
{%- include 'gradlab_grade_here.tpl' -%}
{%- endblock -%}

{%- block table_header -%}
<tr>
  <th>Student Name</th>
  <th class="text-center">Student ID</th>
  <th class="text-center">Timestamp</th>
  <th class="text-center">Status</th>
  <th class="text-center">Score</th>
  <th class="text-center no-sort autograde">Autograde</th>
  <th class="text-center no-sort generate-feedback">Generate Feedback</th>
  <th class="text-center no-sort">Release Feedback</th>
</tr>
{%- endblock -%}
