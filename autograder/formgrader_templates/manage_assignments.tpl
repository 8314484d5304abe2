{#- formgrader's assignments page without its Generate Feedback column (autograder/formgrader_ui.py says why) -#}
{%- extends 'nbgrader/manage_assignments.tpl' -%}

{%- block head -%}
{{ super() }}
{%- include 'gradlab_hidden_buttons.tpl' -%}
{%- endblock -%}

{%- block messages -%}
{%- include 'gradlab_grade_here.tpl' -%}
{{ super() }}
{%- endblock -%}

{%- block table_header -%}
<tr>
  <th>Name</th>
  <th class="text-center">Due Date</th>
  <th class="text-center">Status</th>
  <th class="text-center no-sort">Edit</th>
  <th class="text-center no-sort">Generate</th>
  <th class="text-center no-sort">Preview</th>
  <th class="text-center no-sort">Release</th>
  <th class="text-center no-sort">Collect</th>
  <th class="text-center"># Submissions</th>
  <th class="text-center no-sort generate-feedback">Generate Feedback</th>
  <th class="text-center no-sort">Release Feedback</th>
</tr>
{%- endblock -%}
